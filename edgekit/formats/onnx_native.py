"""ONNX artifacts built from an imported graph that runs only in onnxruntime (no PyTorch model to export from):
fp32 is the graph itself, fp16 onnxruntime's float16 converter, int8 NNCF's ONNX backend calibrated on the data
set's train split. Everything after the graph is made is the ONNX format's own (edgekit/formats/onnx.py): the same
post-processing, checks and fusion report, and export's parity against the float graph in onnxruntime."""

from __future__ import annotations

import copy

from ..errors import EdgekitError
from .base import BuildJob, Built
from .convert.toolchain import version


def _batch_axis(model, dynamic: bool, origin: str) -> None:
    """The input's and outputs' first axis: symbolic with --dynamic-batch (when the graph allows it), else 1."""
    from ..onnxgraph.read import graph_inputs

    first = graph_inputs(model)[0].type.tensor_type.shape.dim
    fixed = bool(first) and not first[0].dim_param and first[0].dim_value > 0
    if dynamic and fixed:
        raise EdgekitError(
            f"the imported graph ({origin}) fixes its batch size to {first[0].dim_value}, so no dynamic batch axis can be given",
            "drop --dynamic-batch, or export the model to ONNX again with a dynamic batch axis and import that",
        )
    if not dynamic:
        for value in [graph_inputs(model)[0], *model.graph.output]:
            dims = value.type.tensor_type.shape.dim
            if dims and dims[0].dim_param:
                dims[0].dim_value = 1


def _int8(model, job: BuildJob, weights):
    """NNCF's ONNX backend, with the settings of edgekit's PyTorch path (edgekit/stages/compress/quantize.py);
    `weights`: the target's WeightRange (formats/convert/weight_range.py)."""
    from ..onnxgraph.read import graph_inputs
    from ..stages.compress.nncf_env import import_nncf
    from ..util.progress import status

    nncf = import_nncf()
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters

    per_channel = job.int8_scheme.get("weights", "per-channel") == "per-channel"
    params = AdvancedQuantizationParameters(
        activations_quantization_params=QuantizationParameters(per_channel=False),
        weights_quantization_params=None if per_channel else QuantizationParameters(per_channel=False),
        disable_bias_correction=True,
        overflow_fix=weights.overflow_fix(),
    )
    name = graph_inputs(model)[0].name
    samples = [{name: job.calibration[i : i + 1]} for i in range(len(job.calibration))]
    with status(f"calibrating int8 ranges (NNCF ONNX, {len(samples)} samples)", job.progress):
        try:
            quantized = nncf.quantize(
                model,
                nncf.Dataset(samples),
                subset_size=len(samples),
                advanced_parameters=params,
                preset=nncf.QuantizationPreset.MIXED,
            )
        except (nncf.errors.ValidationError, nncf.errors.UnsupportedModelError, RuntimeError, ValueError) as e:
            raise EdgekitError(
                f"NNCF could not quantize the imported graph: {type(e).__name__}: {str(e).strip()[:160]}",
                "export it as fp32 or fp16 (--precision), or import it at opset 13 or later",
            ) from None
    weights = "per-channel" if per_channel else "per-tensor"
    return quantized, f"nncf {version('nncf')} ONNX backend (post-training at export, {weights} weights)"


def build_from_graph(job: BuildJob) -> Built:
    import onnx

    from .convert.onnx_finish import finish_built

    record = job.run.spec.graph
    model = onnx.load_model_from_string(job.float_model.data)
    model = copy.deepcopy(model)
    _batch_axis(model, job.dynamic_batch, record.origin)
    built = Built(files=["model.onnx"])
    if job.precision == "int8":
        from .convert.weight_range import record_weight_range, weight_range

        weights = weight_range(job.target, "onnxruntime")
        model, built.quantizer = _int8(model, job, weights)
        record_weight_range(built, weights)
    elif job.precision == "fp16":
        built.quantizer = "onnxruntime float16 converter (fp16 weights and compute, float32 input/output)"
    job.say(f"writing the imported graph as ONNX {job.precision}")
    path = job.folder / "model.onnx"
    onnx.save(model, str(path))
    finish_built(built, path, job.precision, f"the imported graph ({record.origin}), not re-exported")
    built.extras["imported_graph"] = {"origin": record.origin, "not_converted": record.not_converted}
    built.notes.append(f"built from the imported ONNX graph {record.origin}: {record.not_converted}")
    return built
