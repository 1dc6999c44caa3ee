"""The quantize step: post-training int8 (NNCF), or quantization-aware training in the quantizer of the format the
model is for (`qat_for`): PT2E with LiteRT's quantizer for TFLite (and Micro, Edge TPU), with XNNPACK's for
ExecuTorch, NNCF's for ONNX and OpenVINO. The run records which one it trained (model.json's quantization.quantizer),
and the export ships those ranges (stages/compress/quantizers.py)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

from ...data.calibration import calibration_samples, check_calib
from ...errors import EdgekitError
from ..train import fit
from .distill import parent_loss
from .quantize import nncf_config, quantize_ptq
from .state import ChainState

QAT_LR_SCALE = 0.1  # QAT fine-tunes a trained model: a tenth of its training learning rate (both quantizers)


def _finetune(state: ChainState, epochs: int, label: str, teacher):
    """QAT's training: the start (the post-training ranges) stays a candidate, left only for an epoch no worse on
    validation accuracy and loss (fit's keep_start), so QAT is never worse than them on validation (ds-cnn, chosen by
    accuracy first: an epoch took the test split 0.9889 -> 0.9778, under the PTQ artifact: qat_tflite.md, stop 33).
    `teacher`: the float model QAT started from, whose outputs the int8 model learns (None: the labels alone)."""
    config = replace(state.train_config, epochs=epochs, lr=state.train_config.lr * QAT_LR_SCALE)
    loss = parent_loss(state.spec.task, teacher)
    result = fit(state.model, state.spec.task, state.data, config, progress=state.progress, label=label, keep_start=True, loss_fn=loss)
    return result.model.cpu(), result.best_epoch


@dataclass
class QuantStep:
    method: str  # "ptq" or "qat"
    calib: int = 300
    epochs: int = 5
    force_calib: bool = False
    qat_for: str | None = None  # the format QAT trains for (None: the export's default target's preferred format)
    target: str | None = None  # whose preferred format QAT trains for when qat_for is None (a pipeline's target)
    # QAT learns its float start's outputs as well as the labels. Off unless asked (None): distilled, QAT was less
    # accurate than on the labels alone on 3 of 14 model x format pairs, more on 1 (benchmarks/results/qat_tflite.md).
    distill_from_parent: bool | None = None
    kind: str = "quantize"

    def __post_init__(self):
        if self.method not in ("ptq", "qat"):
            raise EdgekitError(f"unknown quantization method '{self.method}'", "use ptq or qat")
        check_calib(self.calib, self.force_calib)  # before any data is read
        if self.method == "qat" and self.epochs < 1:
            raise EdgekitError("QAT needs at least 1 epoch", "pass e.g. --epochs 5")
        if self.method == "ptq" and self.distill_from_parent:
            raise EdgekitError("post-training int8 does not train: there is nothing to distil", "drop --distill-from-parent, or use --qat")
        if self.method == "ptq" and self.qat_for is not None:
            raise EdgekitError(
                "--qat-for chooses the quantizer QAT trains; post-training int8 is made at export by each format",
                "drop --qat-for, or use --qat",
            )
        if self.method == "qat":
            from .quantizers import qat_format

            self.qat_for = qat_format(self.qat_for, self.target)  # an unknown or untrainable format fails here

    @property
    def quantizer(self) -> str:
        from ...formats import get_format

        return get_format(self.qat_for).int8_quantizer if self.method == "qat" else "nncf"

    def _teacher(self, state: ChainState):
        """A frozen copy of the float model, taken before quantizing (QAT's distillation teacher), or None."""
        return copy.deepcopy(state.model).eval() if self.method == "qat" and self.distill_from_parent else None

    def apply(self, state: ChainState) -> tuple[ChainState, dict]:
        if state.spec.quantization:
            raise EdgekitError("the model is already quantized", "quantize once, as the last step")
        teacher = self._teacher(state)
        if self.quantizer != "nncf":
            return self._pt2e_qat(state, teacher)
        model, calibration = quantize_ptq(
            state.model,
            state.data.x["train"],
            samples=self.calib,
            seed=state.train_config.seed,
            force=self.force_calib,
            progress=state.progress,
        )
        state.model = model
        best_epoch = None
        if self.method == "qat":
            state.model, best_epoch = _finetune(state, self.epochs, "quantization-aware training (NNCF)", teacher)
        record = {
            "tool": "nncf",
            "quantizer": "nncf",
            "method": self.method,
            "bits": 8,
            "weights": "per-channel",
            "calibration": calibration,
            "config": nncf_config(state.model),
        }
        if self.method == "qat":
            record.update({"for": self.qat_for, "epochs": self.epochs, "best_epoch": best_epoch, "distilled": teacher is not None})
        state.spec = state.spec.replace(**{"bn_folded": True, "quantization": record})
        return state, {"method": self.method, "quantizer": "nncf", "calibration": calibration}

    def _pt2e_qat(self, state: ChainState, teacher) -> tuple[ChainState, dict]:
        from ...nn.fold import fold_batchnorm
        from .pt2e_qat import hardswish_form, initialize_ranges, prepare

        train = state.data.x["train"]
        # the samples export calibrates on (its seed), so that QAT starts from the post-training export's own ranges
        picked = calibration_samples(train, min(self.calib, len(train)), seed=state.spec.dataset.seed, force=self.force_calib)
        unfolded = fold_batchnorm(state.model)
        hardswish = hardswish_form(self.quantizer, self.target)
        qat = prepare(state.model, self.quantizer, state.spec.input_shape, hardswish=hardswish)
        start = initialize_ranges(qat, picked, progress=state.progress)
        state.model = qat
        state.model, best_epoch = _finetune(state, self.epochs, f"quantization-aware training ({self.quantizer})", teacher)
        calibration = {
            "split": "train",
            "samples": int(len(picked)),
            "unfolded_batchnorm": unfolded,
            "weights": "per-channel",
            "start": start,  # the ranges QAT started from: the post-training export's, where the graphs pair up
        }
        record = {
            "tool": "pt2e",
            "quantizer": self.quantizer,
            "method": "qat",
            "bits": 8,
            "weights": "per-channel",
            "hardswish": hardswish,  # the graph's form of nn.Hardswish, as its export makes it (rebuilt the same)
            "for": self.qat_for,
            "epochs": self.epochs,
            "best_epoch": best_epoch,  # 0: no epoch beat the post-training ranges on validation
            "distilled": teacher is not None,  # trained on the float start's outputs (and the labels)
            "calibration": calibration,
        }
        state.spec = state.spec.replace(**{"bn_folded": True, "quantization": record})
        return state, {"method": "qat", "quantizer": self.quantizer, "calibration": calibration}
