"""ONNX for onnxruntime: fp32, fp16 (float I/O kept) and int8 QDQ (NNCF), checked with onnx.checker.

int8 must be standard ONNX: only QuantizeLinear/DequantizeLinear around float ops, no vendor domain (NNCF
can leave OpenVINO FakeQuantize nodes, which onnxruntime rejects). The build also asks onnxruntime which
quantized operators it fuses, because an unfused QDQ model runs slower than fp32.
"""

from __future__ import annotations

import copy
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import torch

from ..errors import EdgekitError
from .base import BuildJob, Built, Format
from .convert.toolchain import base_toolchain, version

OPSET = 17
STANDARD_DOMAINS = ("", "ai.onnx")
QUANTIZED_OPS = {
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
    "QGemm",
    "QLinearAdd",
    "QLinearMul",
    "QLinearGlobalAveragePool",
    "QLinearAveragePool",
    "QLinearConcat",
    "QLinearSigmoid",
    "QLinearLeakyRelu",
}
COMPUTE_OPS = {"Conv", "Gemm", "MatMul"}


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


def nonstandard_ops(model) -> list[str]:
    return sorted({f"{n.domain}:{n.op_type}" for n in model.graph.node if n.domain not in STANDARD_DOMAINS})


def fusion(path: Path) -> dict:
    """What onnxruntime's graph optimiser makes of the model: quantized kernels vs float compute left."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.optimized_model_filepath = str(Path(tmp) / "opt.onnx")
        so.log_severity_level = 3  # the "hardware specific optimizations" warning: this copy is only counted
        ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        ops = Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)
    quantized = sum(v for k, v in ops.items() if k in QUANTIZED_OPS)
    float_compute = sum(v for k, v in ops.items() if k in COMPUTE_OPS)
    return {
        "quantized_kernels": quantized,
        "float_compute_ops": float_compute,
        "fused": {k: v for k, v in ops.items() if k in QUANTIZED_OPS},
    }


def _postprocess(path: Path, precision: str) -> dict:
    import onnx

    from .convert.compact import compact_onnx
    from .convert.onnx_graph import fold_weight_quantization, remove_identities, topological_sort

    model = onnx.load(str(path))
    folded = 0
    if precision == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(model, keep_io_types=True)
        topological_sort(model)  # the converter appends its input casts at the end of the node list
    elif precision == "int8":
        folded = fold_weight_quantization(model)
    identities = remove_identities(model)
    compact_onnx(model)
    bad = nonstandard_ops(model)
    if bad:
        raise EdgekitError(
            f"the ONNX model holds non-standard operators ({', '.join(bad)}) that onnxruntime cannot run",
            "report this model to edgekit's issues; meanwhile export --format tflite",
        )
    onnx.save(model, str(path))
    try:
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise EdgekitError(
            f"the exported ONNX model is not valid ONNX: {str(e).strip().splitlines()[0][:200]}",
            "report this model to edgekit's issues; meanwhile export --format tflite",
        ) from e
    return {
        "opset": model.opset_import[0].version,
        "ir_version": model.ir_version,
        "ops": sorted({n.op_type for n in model.graph.node}),
        "int8_weights": folded,
        "removed_identities": identities,
    }


class OnnxFormat(Format):
    name = "onnx"
    runtime = "onnxruntime"
    precisions = ("fp32", "fp16", "int8")
    dynamic_batch = True

    def needs_calibration(self, precision, quantized_run):
        return precision == "int8" and not quantized_run

    def build(self, job: BuildJob) -> Built:
        path = job.folder / "model.onnx"
        built = Built(files=["model.onnx"])
        model = job.float_model
        if job.precision == "int8":
            model, built.quantizer, built.reference = self._int8_model(job)
            from ..stages.compress.nncf_env import import_nncf
            from ..stages.compress.quantize import unshare_quantizers

            nncf = import_nncf()
            model = unshare_quantizers(copy.deepcopy(model))
            model = nncf.strip(model, strip_format=nncf.StripFormat.NATIVE, example_input=torch.zeros(1, *job.input_shape))
        elif job.precision == "fp16":
            built.quantizer = "onnxruntime float16 converter (fp16 weights and compute, float32 input/output)"
        job.say(f"converting to ONNX {job.precision}")
        _torch_export(model, job.input_shape, path, job.dynamic_batch)
        info = _postprocess(path, job.precision)
        built.extras["ops"] = info["ops"]
        if job.precision == "int8":
            fused = fusion(path)
            built.extras["onnxruntime_fusion"] = fused
            if fused["float_compute_ops"]:
                built.notes.append(
                    f"onnxruntime keeps {fused['float_compute_ops']} conv/matmul op(s) in float beside "
                    f"{fused['quantized_kernels']} quantized kernel(s): int8 may not be faster than fp32 here"
                )
        built.toolchain = base_toolchain() | {
            "converter": f"torch.onnx (TorchScript exporter) {torch.__version__}",
            "onnx": version("onnx"),
            "opset": info["opset"],
            "ir_version": info["ir_version"],
        }
        return built

    def _int8_model(self, job: BuildJob):
        run = job.run
        if run.spec.quantization:
            q = run.spec.quantization
            return run.model, f"nncf {version('nncf')} ({q['method']} in the run, {q.get('weights', 'per-channel')} weights)", "run"
        from ..stages.compress.quantize import quantize_ptq

        weights = job.int8_scheme.get("weights", "per-channel")
        model, _ = quantize_ptq(
            copy.deepcopy(job.float_model),
            job.calibration,
            samples=len(job.calibration),
            force=True,
            per_channel_weights=weights == "per-channel",
            progress=job.progress,
        )
        return model, f"nncf {version('nncf')} (post-training at export, {weights} weights)", "fp32"


FORMAT = OnnxFormat()
