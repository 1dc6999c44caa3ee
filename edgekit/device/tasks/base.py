"""What every device task does (runner.py and export's parity check call exactly these).

    postprocess(outputs, options) -> outputs   the model's raw outputs (name -> array, N rows) made final: identity
                                               for scores and reconstructions, decode + NMS for a detector
    reduce(features, outputs) -> value         one raw sample's model inputs (N rows) and final outputs -> its value
    place(value, raw_shape, pipeline) -> value the value in the raw sample's own frame (a detector's boxes in raw
                                               image pixels, through the recorded letterbox); identity otherwise
    describe(value, labels, options) -> dict   predict's row: label, index, score, output (+ e.g. detections)
    load_labels(npz), load_reference(npz)      the eval file's labels and host reference, as stored by the host task
    score(values, reference, labels) -> dict   metric name -> float or None (accuracy, agreement, auc, ...)
    ship(values) -> list or None               the values as plain JSON for the host to finish the score with a
                                               library the board lacks (COCO mAP); None: the score is complete

`npz` is anything indexable by key (numpy's NpzFile, or the dict the host writes it from).
"""

import numpy as np


def only(outputs, task):
    """The output of a one-output model (today's tasks read one tensor; a detector reads several by name)."""
    if len(outputs) != 1:
        raise ValueError("task %s reads one output tensor, the model gives %d (%s)" % (task, len(outputs), ", ".join(outputs)))
    return next(iter(outputs.values()))


def by_name(outputs, names, task):
    """The outputs `names` reads: by name; a runtime without tensor names (ExecuTorch's output_0, NCNN's out0, ...)
    gives the same count in the model's order (runtimes/base.py), so they are taken in that order."""
    if all(n in outputs for n in names):
        return dict((n, outputs[n]) for n in names)
    if len(outputs) == len(names) and not any(n in outputs for n in names):
        return dict(zip(names, outputs.values()))
    raise ValueError("a %s model gives outputs %s, this one gives %s"
                     % (task, " and ".join("'%s'" % n for n in names), ", ".join(sorted(outputs))))


def softmax(value):
    e = np.exp(value - value.max())
    return e / e.sum()


class DeviceTask(object):
    name = ""

    def postprocess(self, outputs, options):
        return outputs

    def reduce(self, features, outputs):
        raise NotImplementedError

    def place(self, value, raw_shape, pipeline):
        return value

    def describe(self, value, labels, options):
        raise NotImplementedError

    def load_labels(self, npz):
        return np.asarray(npz["y"])

    def load_reference(self, npz):
        return np.asarray(npz["reference"])

    def score(self, values, reference, labels):
        raise NotImplementedError

    def ship(self, values):
        return None
