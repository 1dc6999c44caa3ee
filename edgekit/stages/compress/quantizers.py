"""Which quantizer a quantized run trained, and what follows from it: how its model is rebuilt from model.json, its
float weights, how parity names it, and which formats' int8 artifacts can carry its ranges. One place, so runs.py
and the export stage name no quantization tool.

model.json's `quantization.quantizer`: "nncf" (NNCF's QAT / PTQ: ONNX, OpenVINO), "pt2e-litert" (PT2E QAT with
LiteRT's quantizer: TFLite, and the TFLite-based Micro and Edge TPU formats), "pt2e-xnnpack" (PT2E QAT with
XNNPACK's quantizer: ExecuTorch). Runs written before the key existed are NNCF's. The value is received data: it
is looked up in this fixed table, never imported.
"""

from __future__ import annotations

import torch.nn as nn

from ...errors import EdgekitError

NNCF = "nncf"
PT2E = ("pt2e-litert", "pt2e-xnnpack")
KNOWN = (NNCF, *PT2E)
DEFAULT_QAT_TARGET = "x86-64"  # the export's default target: `compress --qat` without --qat-for trains its format's quantizer


def trained(record: dict) -> str:
    """The quantizer a run's quantization record names (checked: a received model.json may hold anything)."""
    name = record.get("quantizer", NNCF)
    if name not in KNOWN:
        raise EdgekitError(
            f"model.json: quantization.quantizer is {str(name)[:40]!r}, which edgekit does not know",
            f"use one of {', '.join(KNOWN)}, or re-create the run folder with `edgekit compress`",
        )
    return name


def is_qat(record: dict) -> bool:
    return bool(record) and record.get("method") == "qat"


def rebuild_quantized(model: nn.Module, spec) -> nn.Module:
    """The quantized module a spec describes (`model`: its float structure, pruned shapes and folded batch-norm)."""
    name = trained(spec.quantization)
    if name in PT2E:
        from .pt2e_qat import HARDSWISH_FORMS, rebuild

        form = spec.quantization.get("hardswish", HARDSWISH_FORMS[0])  # runs made before the key: the op itself
        if form not in HARDSWISH_FORMS:
            raise EdgekitError(
                f"model.json: quantization.hardswish is {str(form)[:40]!r}, which edgekit does not know",
                f"use one of {', '.join(map(repr, HARDSWISH_FORMS))}, or re-create the run folder with `edgekit compress`",
            )
        return rebuild(model, name, spec.input_shape, form)
    from .nncf_env import import_nncf

    nncf = import_nncf()
    try:  # NNCF only instantiates its own classes from the config (allowed_modules)
        return nncf.torch.load_from_config(model.eval(), spec.quantization["config"])
    except Exception as e:
        raise EdgekitError(
            f"the quantizer config in model.json does not fit the model: {type(e).__name__}: {str(e)[:120]}", "re-create the run folder"
        ) from None


def float_weights(model: nn.Module) -> dict:
    """A quantized run's float weights, by the float model's names (the quantizers' own state dropped)."""
    from .pt2e_qat import QatGraph, float_weights

    if isinstance(model, QatGraph):
        return float_weights(model)
    return {k: v for k, v in model.state_dict().items() if not k.startswith("__nncf")}


def reference_name(record: dict) -> str:
    """How the parity line names the run's own int8 model."""
    name = trained(record)
    return "PyTorch int8 (NNCF, the run's own)" if name == NNCF else f"PyTorch int8 (PT2E QAT with {name}, the run's own)"


def _reaches(fmt) -> bool:
    return getattr(fmt, "int8_quantizer", None) in KNOWN and "int8" in fmt.precisions


def qat_format(qat_for: str | None, target: str | None = None) -> str:
    """The format a QAT step trains for: the one named, else the target's preferred format (the export's default
    target when none is given; ONNX when that format's int8 is not made by a trainable quantizer, e.g. TensorRT's
    calibration on the device). Its int8 quantizer is the one QAT trains."""
    from ...formats import FORMATS, get_format
    from ...targets import find_target

    if qat_for is None:
        preferred = find_target(target or DEFAULT_QAT_TARGET).runtime.preferred_format
        return preferred if _reaches(get_format(preferred)) else "onnx"
    if not _reaches(get_format(qat_for)):
        reach = [n for n in FORMATS if _reaches(get_format(n))]
        raise EdgekitError(
            f"QAT cannot train for the {qat_for} format: its int8 is not made by a quantizer a run can train",
            f"pass --qat-for one of {', '.join(reach)}",
        )
    return qat_for


def check_reaches(fmt, record: dict, precision: str) -> None:
    """A QAT run's int8 export uses its trained ranges: refuse a format whose int8 another quantizer makes, naming the
    choice that reaches it. Post-training runs are re-quantized at export, as before (calibration is all they hold)."""
    if precision != "int8" or not is_qat(record):
        return
    name = trained(record)
    carries = getattr(fmt, "int8_quantizer", None)
    if carries == name:
        return
    made_for = record.get("for") or ("onnx" if name == NNCF else "?")
    raise EdgekitError(
        f"this QAT run trained {name}'s int8 ranges (compress --qat --qat-for {made_for}), and {fmt.name} int8 "
        + (f"is made by {carries}" if carries else "cannot carry trained ranges"),
        f"export --format {made_for}, or run QAT again from the float run with --qat-for {fmt.name}"
        if carries
        else f"export --format {made_for}",
    )
