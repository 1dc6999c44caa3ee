"""Scores that need no library (scikit-learn gives the same figures): ROC AUC and partial AUC."""

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
