"""TFLite through litert-torch (no TensorFlow) for the LiteRT interpreter: fp32, fp16, dynamic-range int8 and
full-integer int8 (PT2E, calibrated on the train split in batches) with int8 input and output."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..errors import EdgekitError
from ..nn.fold import fold_batchnorm
from ..util.progress import status
from ..util.quiet import captured_fds, quiet_import
from .base import BuildJob, Built, Format
from .convert.default_int8 import choose
from .convert.mixed import forget_float_layers
from .convert.pt2e import litert_quantizer, prepare_for_int8, pt2e_search, record, writes_hardswish_out
from .convert.toolchain import base_toolchain, version


def _op_hint(text: str) -> str:
    m = re.search(r"(aten\.\w+|'tfl\.\w+'|tfl\.\w+|op(?:erator)? '?[\w.:]+'?)", text)
    return m.group(1) if m else text.strip().splitlines()[-1][:160] if text.strip() else "unknown"


class ConversionFailed(EdgekitError):
    """The converter's own error chain stays attached (`raise ... from e`): --debug shows it."""


def litert():
    return quiet_import("litert_torch")


def convert(model, sample, quant_config=None, what="TFLite"):
    lt = litert()
    try:
        with captured_fds() as log:
            return lt.convert(model, (sample,), quant_config=quant_config) if quant_config else lt.convert(model, (sample,))
    except Exception as e:
        raise ConversionFailed(
            f"{what} conversion failed at {_op_hint(str(e) + log())}",
            "replace that layer with a TFLite-supported one, or try --format onnx (--debug shows the converter's error)",
        ) from e


def pt2e_int8(
    model: nn.Module,
    calibration: np.ndarray,
    sample: torch.Tensor,
    *,
    hardswish: bool,
    progress: bool,
    validation=None,
    say=lambda m: None,
    keep: tuple[str, ...] = (),
):
    """The model quantized by PT2E with LiteRT's int8 scheme (per-channel symmetric weights, per-tensor activations).
    With `validation`, the layers int8 hurts most stay float if full int8 misses the floor on it; `keep`: the user's
    float layers instead (convert/mixed.py)."""
    litert()
    from litert_torch.quantize.quant_config import QuantConfig

    fold_batchnorm(model)
    model = prepare_for_int8(model, hardswish=hardswish)
    converted, info, quantizer = pt2e_search(
        model, calibration, sample, litert_quantizer, validation, progress=progress, say=say, keep=keep, fold_quantize=False
    )
    converted.training = False  # its ops were exported in eval mode; the flag only says so to the converter
    return converted, QuantConfig(pt2e_quantizer=quantizer), info


def qat_int8(run):
    """A QAT run's own int8 graph (PT2E with LiteRT's quantizer): the trained ranges, nothing re-calibrated."""
    litert()
    from litert_torch.quantize.quant_config import QuantConfig

    from ..stages.compress.pt2e_qat import converted

    graph = converted(run.model, fold_quantize=False)
    graph.training = False
    return graph, QuantConfig(pt2e_quantizer=litert_quantizer())  # the converter reads only its mode (static int8)


def write_tflite(job: BuildJob, path: Path, *, float_fallback: bool = False) -> dict:
    """Convert `job.float_model` at `job.precision` into `path`; returns the quantizer description, ops and the
    layers kept float. `float_fallback`: int8 may keep early layers float (not for full-int8 accelerators)."""
    sample = torch.zeros(1, *job.input_shape)
    import copy

    model = copy.deepcopy(job.float_model).eval()
    quantizer, kept, reference = None, None, "fp32"
    if job.precision == "fp32":
        with status("converting to TFLite fp32", job.progress):
            edge = convert(model, sample)
    elif job.precision in ("fp16", "dynamic"):
        litert()
        from litert_torch.generative.quantize import quant_recipes

        recipe = quant_recipes.full_fp16_recipe() if job.precision == "fp16" else quant_recipes.full_dynamic_recipe()
        quantizer = {"fp16": "ai-edge-quantizer (fp16 weights)", "dynamic": "ai-edge-quantizer (dynamic-range int8 weights)"}[job.precision]
        with status(f"converting to TFLite {job.precision}", job.progress):
            edge = convert(model, sample, recipe)
    elif carries_qat(job):
        graph, config = qat_int8(job.run)
        with status("converting the QAT run's int8 graph to TFLite", job.progress):
            edge = convert(graph, sample, config, what="full-int8 TFLite")
        epochs = job.run.spec.quantization.get("epochs")
        quantizer = (
            f"pt2e (torchao {version('torchao')}) via litert-torch: the QAT run's trained ranges (LiteRT's quantizer, {epochs} epochs)"
        )
        reference = "run"
    else:
        validation = job.validation if float_fallback else None
        hardswish = writes_hardswish_out(job.target)
        graph, config, kept = pt2e_int8(
            model,
            job.calibration,
            sample,
            hardswish=hardswish,
            progress=job.progress,
            validation=validation,
            say=job.say,
            keep=job.keep_float,
        )
        with status("converting to full-int8 TFLite", job.progress):
            edge = convert(graph, sample, config, what="full-int8 TFLite")
        quantizer = (
            f"pt2e (torchao {version('torchao')}) via litert-torch, calibrated on {len(job.calibration)} train samples"
            + (
                "; re-quantized from the run's float weights (a post-training run holds no trained ranges)"
                if job.run.spec.quantization
                else ""
            )
            + kept.quantizer_note()
        )
    with captured_fds():
        edge.export(str(path))
    from .convert.compact import compact_tflite

    compact_tflite(path)
    return {"quantizer": quantizer, "ops": tflite_ops(path), "float_layers": kept, "reference": reference}


def litert_default_int8(job: BuildJob, path: Path, *, full_int8: bool, partitions: int) -> str:
    """litert-torch's own PT2E int8 recipe, as its docs show it: the model exported as it is (batch-norm not folded,
    none of edgekit's annotations), get_symmetric_quantization_config() with its defaults, calibrated on the same
    train samples → the quantizer line (convert/default_int8.py compares it)."""
    import copy

    litert()
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from .convert.pt2e import calibrate

    sample = torch.zeros(1, *job.input_shape)
    quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config())
    graph = prepare_pt2e(torch.export.export(copy.deepcopy(job.float_model).eval(), (sample,)).module(), quantizer)
    calibrate(graph, job.calibration, progress=job.progress, batch=1)  # the export fixed the batch at 1
    graph = convert_pt2e(graph, fold_quantize=False)
    graph.training = False
    with status("converting litert-torch's default int8 to TFLite", job.progress):
        edge = convert(graph, sample, QuantConfig(pt2e_quantizer=quantizer), what="full-int8 TFLite")
    with captured_fds():
        edge.export(str(path))
    from .convert.compact import compact_tflite

    compact_tflite(path)
    if full_int8 and "DEQUANTIZE" in tflite_ops(path):  # float islands run slower on a CPU: not a like-for-like rival
        raise ValueError("it leaves operators in float (DEQUANTIZE) where edgekit's is full int8")
    parts = xnnpack_partitions(path)
    if parts > partitions:  # an op XNNPACK does not take (int8 HARD_SWISH) runs between its parts
        raise ValueError(f"it runs in {parts} XNNPACK partitions where edgekit's runs in {partitions}")
    return (
        f"litert-torch {version('litert-torch')} default PT2E (get_symmetric_quantization_config(): per-tensor "
        f"symmetric int8, batch-norm not folded) on {len(job.calibration)} train samples"
    )


def carries_qat(job: BuildJob) -> bool:
    """An int8 export of a QAT run trained with LiteRT's quantizer: its own graph ships (plan.py refused the rest)."""
    from ..stages.compress.quantizers import is_qat, trained

    q = job.run.spec.quantization
    return job.precision == "int8" and is_qat(q) and trained(q) == "pt2e-litert"


def tflite_ops(path: Path, ordered: bool = False) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    with captured_fds():  # "INFO: Created TensorFlow Lite XNNPACK delegate" on the C-level stderr
        it = Interpreter(model_path=str(path))
    ops = [op["op_name"] for op in sorted(it._get_ops_details(), key=lambda d: d["index"])]
    return ops if ordered else sorted(set(ops))


def xnnpack_partitions(path: Path) -> int:
    """How many parts of the graph LiteRT hands to XNNPACK, its default CPU delegate: ops it does not take run
    between them in LiteRT's own kernels (LCNet's int8 HARD_SWISH: 29 parts, 5.8x slower than one on x86-64,
    benchmarks/results/hardswish_forms.md)."""
    from ai_edge_litert.interpreter import Interpreter

    with captured_fds():
        it = Interpreter(model_path=str(path))
        it.allocate_tensors()  # the delegate takes its parts here
    return sum(op["op_name"] == "DELEGATE" for op in it._get_ops_details())


def tflite_toolchain() -> dict:
    return base_toolchain() | {"converter": f"litert-torch {version('litert-torch')}", "litert_converter": version("litert-converter")}


class TfliteFormat(Format):
    name = "tflite"
    float_layers = True
    runtime = "litert"
    precisions = ("fp32", "fp16", "dynamic", "int8")
    int8_quantizer = "pt2e-litert"

    def build(self, job: BuildJob) -> Built:
        # a target that runs only full int8 (an NPU behind LiteRT) gets no float layers
        info = write_tflite(job, job.folder / "model.tflite", float_fallback=not job.target.runtime.full_int8_only)
        built = Built(
            files=["model.tflite"],
            quantizer=info["quantizer"],
            toolchain=tflite_toolchain(),
            extras={"ops": info["ops"]},
            reference=info["reference"],
        )
        if info["float_layers"]:
            record(built, info["float_layers"])
        path = job.folder / "model.tflite"
        if (
            job.precision == "int8"
            and info["reference"] == "fp32"
            and not job.target.runtime.full_int8_only  # an accelerator's op mapping is checked on edgekit's graph only
            and not job.keep_float  # the layers the user keeps float are not the default's to drop
            and choose(
                job,
                built,
                path,
                self.runtime,
                "litert-torch's default PT2E",
                lambda p: litert_default_int8(job, p, full_int8="DEQUANTIZE" not in info["ops"], partitions=xnnpack_partitions(path)),
            )
        ):
            forget_float_layers(built)
            built.extras["ops"] = tflite_ops(path)
        if job.precision == "int8" and job.run.spec.quantization and info["reference"] != "run":
            built.notes.append(
                "TFLite int8 is re-quantized with PT2E from the post-training run's float weights; parity is checked "
                "against the float model, and the run's own int8 model is compared too"
            )
        return built


FORMAT = TfliteFormat()
