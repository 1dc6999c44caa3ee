"""Anomaly detection by reconstruction error on the device: a clip's value is the mean error over its vectors;
quality is ROC AUC and partial AUC (as MLPerf Tiny scores it), and the AUC's distance to the host reference's."""

import numpy as np

from .metrics import partial_auc, roc_auc
from .reconstruction import Reconstruction


class Anomaly(Reconstruction):
    name = "anomaly"

    def score(self, values, reference, labels):
        out = np.stack(values).reshape(-1).astype(np.float64)
        ref = np.asarray(reference).reshape(-1).astype(np.float64)
        auc, auc_ref = roc_auc(out, labels), roc_auc(ref, labels)
        rel = np.abs(out - ref) / np.maximum(np.abs(ref), 1e-12)
        diff = abs(auc - auc_ref) if auc is not None and auc_ref is not None else None
        return {"auc": auc, "pauc": partial_auc(out, labels), "reference_auc": auc_ref, "auc_diff": diff,
                "max_rel_diff": float(rel.max()) if len(rel) else 0.0}


TASK = Anomaly()
