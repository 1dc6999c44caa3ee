"""OpenVINO IR (model.xml + model.bin) for OpenVINO's CPU plugin: x86 (Intel edge boxes) and ARM (Raspberry Pi 5).

fp32: `ov.convert_model` on the float network, tensors named as the ONNX export names them (input; output or the
model's own output names). fp16: the same graph with fp16 weights (OpenVINO's default IR compression); the
arithmetic stays f32 unless `--runtime-option fp16_arithmetic=true`, because the ARM CPU plugin otherwise computes
in f16 on ARMv8.2 cores (Pi 5) and the answer would move without anyone asking (stack-findings: OpenVINO's
INFERENCE_PRECISION_HINT). int8: NNCF's OpenVINO backend on the fp32 IR, calibrated as the ONNX int8 export is
(the same train samples; per-tensor activations, no bias correction, the MIXED preset); a quantized run's own NNCF
model is converted as it is, so its trained ranges are what ships. int8 that misses the floor on the validation
split keeps the layers int8 hurts most in float (NNCF's ignored scope), ranked by sensitivity as every int8 format
ranks them (convert/mixed.py); OpenVINO's ops carry the module paths they came from, which map one to the other.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch

from ..errors import EdgekitError
from ..nn.fold import fold_batchnorm
from ..util.progress import status
from ..util.quiet import captured_fds
from ..util.telemetry import declined
from .base import BuildJob, Built, Format
from .convert.mixed import Validation, float_ops, record, search
from .convert.toolchain import base_toolchain, version
from .convert.weight_range import WeightRange, record_weight_range, weight_range

FILES = ["model.xml", "model.bin"]
CALIBRATION_BATCH = 32  # as stages/compress/quantize.py calibrates the ONNX export (nncf_int8 says why it matters)
COMPUTE = {"Convolution", "GroupConvolution", "MatMul", "ConvolutionBackpropData"}


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__


def import_openvino():
    with declined():  # its first import in a process reports to Intel otherwise (util/telemetry.py)
        import openvino

    return openvino


def convert(model: torch.nn.Module, input_shape: list[int], *, dynamic_batch: bool = False):
    """The network as an ov.Model with batch 1 (or any batch: int8 calibrates on batches of samples, then fixes it
    to 1), its tensors named as deploy.json lists them."""
    ov = import_openvino()

    from .onnx import output_names

    example = torch.zeros(1, *input_shape)
    names = output_names(model, example)
    try:
        with warnings.catch_warnings(), captured_fds(), declined():  # captured: tracer warnings, NNCF's traced kernels
            warnings.simplefilter("ignore")
            batch = -1 if dynamic_batch else 1
            converted = ov.convert_model(model.eval(), example_input=example, input=[ov.PartialShape([batch, *input_shape])])
    except Exception as e:  # the converter's own failures (unsupported op, tracing error) come as many types
        raise EdgekitError(f"OpenVINO conversion failed: {_first_line(e)}", "replace that layer, or try --format onnx") from None
    if len(converted.outputs) != len(names):
        raise EdgekitError(
            f"the OpenVINO model has {len(converted.outputs)} outputs, the network {len(names)}",
            "return one tensor, or a flat tuple or dict of tensors, from the model's forward()",
        )
    converted.inputs[0].get_tensor().set_names({"input"})
    for port, name in zip(converted.outputs, names):
        port.get_tensor().set_names({name})
    return converted


def compute_layers(model) -> list[tuple[str, int]]:
    """(name, MACs per sample) of each conv / matmul, in the graph's order: the layers the float fallback counts."""
    layers = []
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind not in COMPUTE:
            continue
        out, weight = op.get_output_partial_shape(0), op.get_input_partial_shape(1)
        if out.is_static and weight.is_static:
            per_output = {"GroupConvolution": 2, "MatMul": None}.get(kind, 1)
            k = int(op.get_input_partial_shape(0).to_shape()[-1]) if per_output is None else int(np.prod(weight.to_shape()[per_output:]))
            macs = int(np.prod(out.to_shape()[1:])) * k
        else:
            macs = 0
        layers.append((op.get_friendly_name(), macs))
    return layers


def _run(ov_model, x: np.ndarray) -> dict:
    """Outputs of an ov.Model for x, one sample at a time (the IR has batch 1), on this CPU in f32."""
    ov = import_openvino()

    compiled = ov.Core().compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    rows = [compiled(x[i : i + 1]) for i in range(len(x))]
    return {port.get_any_name(): np.concatenate([r[port] for r in rows]) for port in compiled.outputs}


def nncf_int8(ov_model, calibration: np.ndarray, ignored: list[str], *, weights: WeightRange, progress: bool):
    """NNCF post-training int8 of an ov.Model: the ONNX export's parameters, `ignored` layers left float, the weights'
    int8 range as `weights` says (convert/weight_range.py). A model with a
    dynamic batch is calibrated on batches of CALIBRATION_BATCH samples, as the ONNX export's NNCF is, and comes
    back with batch 1.

    Why batches: NNCF takes an activation's range as the mean over calibration batches of each batch's min and
    max. One sample a batch makes that the typical sample's range, which clips every rarer large value: the tiny
    anomaly autoencoder's int8 reconstructions fell to centred cosine 0.947 and failed parity; on batches of 32
    they score 0.99897, the ONNX export's own figure (benchmarks/results/int8_references.md)."""
    from ..stages.compress.nncf_env import import_nncf

    nncf = import_nncf()
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters

    # As stages/compress/quantize.py for ONNX (the reasons are recorded there): per-tensor activations, no bias
    # correction, MIXED preset; weights per channel.
    params = AdvancedQuantizationParameters(
        activations_quantization_params=QuantizationParameters(per_channel=False),
        disable_bias_correction=True,
        overflow_fix=weights.overflow_fix(),
    )
    shape = ov_model.inputs[0].get_partial_shape()
    step = CALIBRATION_BATCH if shape[0].is_dynamic else 1
    dataset = nncf.Dataset([calibration[i : i + step] for i in range(0, len(calibration), step)])
    scope = nncf.IgnoredScope(names=ignored) if ignored else None
    with status(f"calibrating int8 ranges (NNCF, {len(calibration)} samples)", progress), captured_fds():
        quantized = nncf.quantize(
            ov_model,
            dataset,
            subset_size=len(calibration),
            preset=nncf.QuantizationPreset.MIXED,
            advanced_parameters=params,
            **({"ignored_scope": scope} if scope else {}),
        )
    if step > 1:
        ov = import_openvino()
        quantized.reshape({quantized.inputs[0]: ov.PartialShape([1, *list(shape)[1:]])})
    return quantized


def module_path(op_name: str) -> str | None:
    """The PyTorch module path an op converted from a module carries in its friendly name
    (`__module.features.0.0/aten::_convolution/Convolution` → `features.0.0`); None for other ops."""
    head = op_name.split("/", 1)[0]
    return head[len("__module.") :] if head.startswith("__module.") else None


def with_fallback(
    ov_model,
    float_model: torch.nn.Module,
    calibration: np.ndarray,
    validation: Validation | None,
    *,
    weights: WeightRange,
    progress: bool,
    say=lambda m: None,
    keep: tuple[str, ...] = (),
):
    """Full int8 first; when it misses the floor on the validation split, the layers int8 hurts most stay float
    through NNCF's ignored scope, ranked by measured sensitivity (convert/mixed.py, as ONNX, TFLite and ExecuTorch
    do). `float_model` is the (batch-norm folded) network `ov_model` was converted from: the ops' friendly names
    carry its module paths, which is how the ranking's layers name OpenVINO's ops."""
    from ..nn.sensitivity import Int8Simulation

    ops: dict[str, list[str]] = {}
    for name, _ in compute_layers(ov_model):
        path = module_path(name)
        if path is not None:
            ops.setdefault(path, []).append(name)

    def quantize(paths: tuple):
        ignored = float_ops(ops, paths, "OpenVINO", asked=bool(keep))
        return nncf_int8(ov_model, calibration, ignored, weights=weights, progress=progress)

    def simulation():
        return Int8Simulation(float_model, calibration, per_channel=True)

    return search(quantize, _run, validation, simulation, say, keep)


class OpenVINOFormat(Format):
    name = "openvino"
    float_layers = True
    runtime = "openvino"
    precisions = ("fp32", "fp16", "int8")
    requires = (("openvino", "openvino"),)
    runtime_option_keys = {"fp16_arithmetic": bool}

    def needs_calibration(self, precision, quantized_run):
        return precision == "int8" and not quantized_run

    def build(self, job: BuildJob) -> Built:
        ov = import_openvino()

        built = Built(files=list(FILES))
        if job.precision == "int8" and job.run.spec.quantization:
            q = job.run.spec.quantization
            job.say("converting the run's NNCF int8 model to OpenVINO")
            model = self._nncf_torch(job)
            built.reference = "run"
            built.quantizer = f"nncf {version('nncf')} ({q['method']} in the run, {q.get('weights', 'per-channel')} weights)"
        else:
            float_model = copy.deepcopy(job.float_model)
            fold_batchnorm(float_model)  # as the ONNX int8 export does; exact in float
            with status(f"converting to OpenVINO {job.precision}", job.progress):
                model = convert(float_model, job.input_shape, dynamic_batch=job.precision == "int8")
        if job.precision == "int8" and not job.run.spec.quantization:
            validation = None if job.target.runtime.full_int8_only else job.validation
            weights = weight_range(job.target, "openvino")
            model, kept = with_fallback(
                model,
                float_model,
                job.calibration,
                validation,
                weights=weights,
                progress=job.progress,
                say=job.say,
                keep=job.keep_float,
            )
            built.quantizer = (
                f"nncf {version('nncf')} OpenVINO backend (post-training at export, per-channel weights"
                + (" in half the int8 range" if weights.halved == "every" else "")
                + f"), calibrated on {len(job.calibration)} train samples"
            )
            record_weight_range(built, weights)
            built.quantizer += kept.quantizer_note()
            record(built, kept)
        fp16_arithmetic = bool(job.runtime_options.get("fp16_arithmetic", False))
        if job.precision == "fp16":
            built.quantizer = "OpenVINO fp16 weights (compress_to_fp16); fp16 arithmetic " + ("on" if fp16_arithmetic else "off")
        ov.save_model(model, str(job.folder / FILES[0]), compress_to_fp16=job.precision == "fp16")
        built.runtime_options = {"fp16_arithmetic": fp16_arithmetic}
        if fp16_arithmetic:
            built.notes.append(
                "fp16 arithmetic is on: OpenVINO computes in f16 where the CPU has it (ARMv8.2: Pi 5; AVX512-FP16 / AMX); "
                "parity here ran in the precision this CPU chose (the runtime line says which)"
            )
        built.extras["ops"] = sorted({op.get_type_name() for op in model.get_ops()})
        built.toolchain = base_toolchain() | {"converter": f"openvino.convert_model {version('openvino')}", "openvino": version("openvino")}
        return built

    def _nncf_torch(self, job: BuildJob):
        """The run's NNCF model with its quantizers as plain torch fake-quantize ops (OpenVINO reads them as
        FakeQuantize), each hook with its own quantizer (stages/compress/quantize.py says why)."""
        from ..stages.compress.nncf_env import import_nncf
        from ..stages.compress.quantize import unshare_quantizers

        nncf = import_nncf()
        model = unshare_quantizers(copy.deepcopy(job.run.model))
        example = torch.zeros(1, *job.input_shape)
        model = nncf.strip(model, strip_format=nncf.StripFormat.NATIVE, example_input=example)
        with status("converting to OpenVINO int8", job.progress):
            return convert(model, job.input_shape)


FORMAT = OpenVINOFormat()
