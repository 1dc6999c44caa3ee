"""ONNX for onnxruntime: fp32, fp16 (float I/O kept) and int8 QDQ (NNCF), checked with onnx.checker.

int8 must be standard ONNX: only QuantizeLinear/DequantizeLinear around float ops, no vendor domain (NNCF
can leave OpenVINO FakeQuantize nodes, which onnxruntime rejects). The build also asks onnxruntime which
quantized operators it fuses, because an unfused QDQ model runs slower than fp32.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch

from ..errors import EdgekitError
from .base import VNNI, BuildJob, Built, Format
from .convert.default_int8 import choose
from .convert.mixed import float_ops, forget_float_layers, record
from .convert.onnx_finish import finish_built, fusion
from .convert.toolchain import version
from .convert.weight_range import record_weight_range, weight_range

OPSET = 17


def output_names(model, example) -> list[str]:
    """The model's outputs, named from the model in its order: a dict's keys, output_0, output_1, ... for a tuple,
    `output` for one tensor (deploy.json lists them; the runtime adapters read them back from the ONNX graph)."""
    with torch.no_grad():
        out = model.eval()(example)
    if isinstance(out, torch.Tensor):
        return ["output"]
    values = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, (tuple, list)) else None
    if not values or not all(isinstance(v, torch.Tensor) for v in values):
        raise EdgekitError(
            f"the model's forward() returns {type(out).__name__}, which ONNX export cannot name as outputs",
            "return a tensor, a tuple of tensors or a dict of tensors",
        )
    return [str(k) for k in out] if isinstance(out, dict) else [f"output_{i}" for i in range(len(values))]


def _torch_export(model, input_shape, path: Path, dynamic_batch: bool) -> None:
    example = torch.zeros(1, *input_shape)
    names = output_names(model, example)
    axes = {name: {0: "batch"} for name in ["input", *names]} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # The TorchScript exporter (dynamo=False): the dynamo one fails on NNCF-quantized models.
            torch.onnx.export(
                model.eval(),
                (example,),
                str(path),
                dynamo=False,
                opset_version=OPSET,
                input_names=["input"],
                output_names=names,
                dynamic_axes=axes,
                do_constant_folding=True,
            )
        except OSError:
            raise
        except Exception as e:
            msg = str(e).strip().splitlines()[0][:200]
            raise EdgekitError(f"ONNX export failed: {msg}", "replace that layer/op with a supported one, or try --format tflite") from None


class OnnxFormat(Format):
    name = "onnx"
    float_layers = True
    runtime = "onnxruntime"
    precisions = ("fp32", "fp16", "int8")
    dynamic_batch = True
    int8_quantizer = "nncf"
    builds_from = ("pytorch", "onnxruntime")  # an imported graph onnx2torch does not convert: edgekit/formats/onnx_native.py

    def needs_calibration(self, precision, quantized_run):
        return precision == "int8" and not quantized_run

    def int8_scheme(self, target) -> dict:
        """onnxruntime's x86 int8 kernels are u8s8: without VNNI the 16-bit intermediate saturates on per-channel
        weights (onnxruntime's docs: use reduce_range or per-tensor there). Per-tensor weights stay exact."""
        isa = target.isa
        if isa is None:
            return {"weights": "per-channel"}
        if VNNI & isa:
            return {"weights": "per-channel", "reason": "the CPU has VNNI: per-channel int8 is exact in onnxruntime"}
        return {
            "weights": "per-tensor",
            "reason": "the CPU has no VNNI (AVX2 only): per-channel int8 saturates in onnxruntime's "
            "u8s8 kernels, per-tensor weights stay exact",
        }

    def build(self, job: BuildJob) -> Built:
        if job.run.spec.runs_in == "onnxruntime":
            from .onnx_native import build_from_graph

            return build_from_graph(job)
        path = job.folder / "model.onnx"
        built = Built(files=["model.onnx"])
        model = job.float_model
        if job.precision == "int8":
            model, built.quantizer, built.reference, kept = self._int8_model(job)
            if kept is not None:
                record(built, kept)
                record_weight_range(built, weight_range(job.target, self.runtime))
            from ..stages.compress.nncf_env import import_nncf
            from ..stages.compress.quantize import unshare_quantizers

            nncf = import_nncf()
            model = unshare_quantizers(copy.deepcopy(model))
            model = nncf.strip(model, strip_format=nncf.StripFormat.NATIVE, example_input=torch.zeros(1, *job.input_shape))
        elif job.precision == "fp16":
            built.quantizer = "onnxruntime float16 converter (fp16 weights and compute, float32 input/output)"
        job.say(f"converting to ONNX {job.precision}")
        _torch_export(model, job.input_shape, path, job.dynamic_batch)
        converter = f"torch.onnx (TorchScript exporter) {torch.__version__}"
        finish_built(built, path, job.precision, converter)
        if (
            job.precision == "int8"
            and built.reference == "fp32"
            and not job.keep_float  # the layers the user keeps float are not the default's to drop
            and choose(
                job,
                built,
                path,
                self.runtime,
                "onnxruntime's quantize_static defaults",
                lambda p: ort_default_int8(job, p, against=built.extras["onnxruntime_fusion"]),
            )
        ):
            forget_float_layers(built)  # what was recorded of edgekit's graph no longer describes the file
            built.extras.pop("int8_weight_range", None)
            built.notes = [n for n in built.notes if not n.startswith("onnxruntime keeps")]
            finish_built(built, path, "int8", converter + ", quantized by onnxruntime.quantization.quantize_static")
        return built

    def _int8_model(self, job: BuildJob):
        """(NNCF int8 model, quantizer line, parity reference, FloatLayers or None)."""
        run = job.run
        if run.spec.quantization:
            q = run.spec.quantization
            line = f"nncf {version('nncf')} ({q['method']} in the run, {q.get('weights', 'per-channel')} weights)"
            return run.model, line, "run", None
        weights = job.int8_scheme.get("weights", "per-channel")
        model, kept = nncf_int8(job, per_channel=weights == "per-channel")
        line = f"nncf {version('nncf')} (post-training at export, {weights} weights)"
        return model, line + kept.quantizer_note(), "fp32", kept


def ort_default_int8(job: BuildJob, path: Path, *, against: dict | None = None) -> str:
    """onnxruntime's own int8 path, as its docs show it: the float model exported, then quantize_static with its
    defaults, calibrated on the same train samples → the quantizer line (convert/default_int8.py compares it)."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    fp32 = path.with_name("fp32.onnx")
    _torch_export(job.float_model, job.input_shape, fp32, job.dynamic_batch)
    calibration = job.calibration
    step = 8 if job.dynamic_batch else 1

    class Samples(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(range(0, len(calibration), step))

        def get_next(self):
            i = next(self.batches, None)
            return None if i is None else {"input": calibration[i : i + step]}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_static(str(fp32), str(path), Samples())
    fp32.unlink()
    if against is not None:  # more float compute runs slower: not a like-for-like rival
        mine = fusion(path)
        if mine["float_compute_ops"] > against["float_compute_ops"] or mine["quantized_kernels"] < against["quantized_kernels"]:
            raise ValueError(
                f"onnxruntime fuses {mine['quantized_kernels']} of its ops into int8 kernels and leaves "
                f"{mine['float_compute_ops']} in float, edgekit's {against['quantized_kernels']} and {against['float_compute_ops']}"
            )
    return (
        f"onnxruntime {version('onnxruntime')} quantize_static with its defaults (QDQ, per-tensor int8 weights and "
        f"activations, MinMax) on {len(calibration)} train samples"
    )


def nncf_int8(job: BuildJob, *, per_channel: bool):
    """NNCF post-training int8 of the float model; when it misses the floor on the validation split, the layers int8
    hurts most stay float through NNCF's ignored_scope (convert/mixed.py) → (model, FloatLayers)."""
    from ..nn.evaluate import predict
    from ..nn.fold import fold_batchnorm
    from ..nn.sensitivity import Int8Simulation
    from ..stages.compress.quantize import compute_ops, quantize_ptq
    from .convert.mixed import search

    ops: dict[str, list[str]] = {}
    weights = weight_range(job.target, "onnxruntime")  # once: every try of the search quantizes alike

    def quantize(paths: tuple):
        if paths and not ops:  # NNCF's node names are read from a full int8 model (--keep-float asks before one)
            quantize(())
        ignored = float_ops(ops, paths, "NNCF", asked=bool(job.keep_float))
        model, _ = quantize_ptq(
            copy.deepcopy(job.float_model),
            job.calibration,
            samples=len(job.calibration),
            force=True,
            per_channel_weights=per_channel,
            progress=job.progress,
            ignored=ignored,
            weights=weights,
        )
        if not paths:
            ops.update(compute_ops(model, torch.from_numpy(job.calibration[:1])))
        return model

    def simulation():
        folded = copy.deepcopy(job.float_model)
        fold_batchnorm(folded)  # as quantize_ptq does: the same layers, the same weights
        return Int8Simulation(folded, job.calibration, per_channel=per_channel)

    return search(quantize, lambda m, x: predict(m, x), job.validation, simulation, job.say, job.keep_float)


FORMAT = OnnxFormat()
