"""Reconstruction (autoencoders) on the device: a sample's value is its reconstruction error (MSE of output
against input over all its rows); above the threshold export fixed, it is an anomaly."""

import numpy as np

from .base import DeviceTask, only


class Reconstruction(DeviceTask):
    name = "reconstruction"

    def reduce(self, features, outputs):
        out = only(outputs, self.name)
        o, i = out.reshape(len(out), -1), features.reshape(len(features), -1)
        return np.array([np.mean((o - i) ** 2)], np.float32)

    def describe(self, value, labels, options):
        score = float(value[0])
        threshold = options.get("threshold")
        if threshold is None:
            return {"label": "reconstruction error", "index": None, "score": score, "output": [score]}
        return {"label": "anomaly" if score > threshold else "normal", "index": int(score > threshold), "score": score,
                "output": [score]}

    def score(self, values, reference, labels):
        out = np.stack(values).reshape(-1).astype(np.float64)
        ref = np.asarray(reference).reshape(-1).astype(np.float64)
        rel = np.abs(out - ref) / np.maximum(np.abs(ref), 1e-12)
        return {"mse": float(out.mean()), "reference_mse": float(ref.mean()), "max_rel_diff": float(rel.max()) if len(rel) else 0.0}


TASK = Reconstruction()
