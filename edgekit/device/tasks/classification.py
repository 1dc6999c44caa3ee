"""Classification on the device: one row of class scores per sample; top-1 against the labels and the host."""

import numpy as np

from .base import DeviceTask, only, softmax


class Classification(DeviceTask):
    name = "classification"

    def reduce(self, features, outputs):
        return only(outputs, self.name).reshape(-1)

    def describe(self, value, labels, options):
        """The class with the highest softmax probability."""
        p = softmax(value)
        best = int(p.argmax())
        return {"label": labels[best] if best < len(labels) else str(best), "index": best, "score": float(p[best]),
                "output": [float(v) for v in value[:64]]}

    def score(self, values, reference, labels):
        out = np.stack(values).reshape(len(values), -1)
        ref = np.asarray(reference).reshape(len(reference), -1)
        return {"accuracy": float((out.argmax(1) == labels).mean()), "agreement": float((out.argmax(1) == ref.argmax(1)).mean()),
                "max_abs_diff": float(np.abs(out - ref).max()) if len(out) else 0.0}


TASK = Classification()
