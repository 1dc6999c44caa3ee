"""What a task scores, in numpy only: used by export's parity on the host and by the runner on the device.

Each task has `reduce` (one sample's model inputs and outputs → what is scored for that sample) and `score`
(all samples, the host reference, the labels → quality and agreement with the reference). The host task
plug-ins (edgekit/tasks/) call these, so both sides compute the same figures.
"""

from __future__ import annotations

import numpy as np


def roc_auc(scores, labels):
    """Area under the ROC curve (labels: 1 = positive/anomalous), ties counted half (Mann-Whitney U)."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
    pos, neg = scores[labels], scores[~labels]
    if not len(pos) or not len(neg):
        return None
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order), np.float64)
    allv = np.concatenate([pos, neg])[order]
    # average ranks over ties
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))


def partial_auc(scores, labels, max_fpr=0.1):
    """Standardised partial AUC up to max_fpr (McClish correction), as scikit-learn's roc_auc_score(max_fpr=...)
    and the DCASE / MLPerf Tiny anomaly-detection scoring report it."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        return None
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    distinct = np.r_[np.where(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(y)[distinct]
    fps = (1 + distinct) - tps
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    stop = np.searchsorted(fpr, max_fpr, side="right")
    x_interp = [fpr[stop - 1], fpr[stop]] if stop < len(fpr) else [fpr[-1], fpr[-1]]
    y_interp = [tpr[stop - 1], tpr[stop]] if stop < len(tpr) else [tpr[-1], tpr[-1]]
    tpr_c = np.append(tpr[:stop], np.interp(max_fpr, x_interp, y_interp))
    fpr_c = np.append(fpr[:stop], max_fpr)
    area = float(np.sum(np.diff(fpr_c) * (tpr_c[1:] + tpr_c[:-1]) / 2.0))
    min_area, max_area = 0.5 * max_fpr ** 2, max_fpr
    return float(0.5 * (1 + (area - min_area) / (max_area - min_area)))


class Classification:
    @staticmethod
    def reduce(inputs, outputs):
        return outputs.reshape(-1)

    @staticmethod
    def label(value, labels, options):
        """(label, index, score) of one sample: the class with the highest softmax probability."""
        e = np.exp(value - value.max())
        p = e / e.sum()
        best = int(p.argmax())
        return (labels[best] if best < len(labels) else str(best)), best, float(p[best])

    @staticmethod
    def score(out, ref, labels):
        out, ref = out.reshape(len(out), -1), ref.reshape(len(ref), -1)
        return {"accuracy": float((out.argmax(1) == labels).mean()), "agreement": float((out.argmax(1) == ref.argmax(1)).mean()),
                "max_abs_diff": float(np.abs(out - ref).max()) if len(out) else 0.0}


class Reconstruction:
    """Autoencoders: the per-sample score is the reconstruction error (MSE of output against input)."""

    @staticmethod
    def reduce(inputs, outputs):
        o, i = outputs.reshape(len(outputs), -1), inputs.reshape(len(inputs), -1)
        return np.array([np.mean((o - i) ** 2)], np.float32)

    @staticmethod
    def score(out, ref, labels):
        out, ref = out.reshape(-1).astype(np.float64), ref.reshape(-1).astype(np.float64)
        rel = np.abs(out - ref) / np.maximum(np.abs(ref), 1e-12)
        return {"mse": float(out.mean()), "reference_mse": float(ref.mean()), "max_rel_diff": float(rel.max()) if len(rel) else 0.0}

    @staticmethod
    def label(value, labels, options):
        """(label, index, score): above the threshold export fixed on normal validation clips, it is an anomaly."""
        score = float(value[0])
        threshold = options.get("threshold")
        if threshold is None:
            return "reconstruction error", None, score
        return ("anomaly" if score > threshold else "normal"), int(score > threshold), score


class Anomaly(Reconstruction):
    """Anomaly detection by reconstruction error; the score per clip is the mean error over its vectors."""

    @staticmethod
    def score(out, ref, labels):
        out, ref = out.reshape(-1).astype(np.float64), ref.reshape(-1).astype(np.float64)
        auc, auc_ref = roc_auc(out, labels), roc_auc(ref, labels)
        rel = np.abs(out - ref) / np.maximum(np.abs(ref), 1e-12)
        diff = abs(auc - auc_ref) if auc is not None and auc_ref is not None else None
        return {"auc": auc, "pauc": partial_auc(out, labels), "reference_auc": auc_ref, "auc_diff": diff,
                "max_rel_diff": float(rel.max()) if len(rel) else 0.0}


TASKS = {"classification": Classification, "reconstruction": Reconstruction, "anomaly": Anomaly}
