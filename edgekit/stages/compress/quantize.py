"""int8 quantization with NNCF: post-training (calibrated on the train split) and quantization-aware
training (NNCF's quantizers, then fine-tuning). Batch-norm is folded first."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ...data.calibration import calibration_samples
from ...nn.fold import fold_batchnorm
from ...util.progress import status
from .nncf_env import import_nncf

CALIBRATION_BATCH = 32


def quantize_ptq(
    model: nn.Module,
    x_train: np.ndarray,
    *,
    samples: int,
    seed: int = 0,
    force: bool = False,
    per_channel_weights: bool = True,
    progress: bool = True,
    ignored: list[str] | None = None,
    weights=None,
):
    """Returns (quantized model, calibration record). The model's batch-norm is folded in place first.
    per_channel_weights=False: one scale per weight tensor (exact on x86 CPUs without VNNI, see targets/x86-64.toml).
    `ignored`: NNCF node names left in float (mixed precision: `compute_ops` names them). `weights`: the export's
    WeightRange for its target (formats/convert/weight_range.py); None (a run, not tied to one CPU): NNCF's default."""
    picked = calibration_samples(x_train, min(samples, len(x_train)), seed=seed, force=force)
    nncf = import_nncf()
    unfolded = fold_batchnorm(model)
    batches = [torch.from_numpy(picked[i : i + CALIBRATION_BATCH]) for i in range(0, len(picked), CALIBRATION_BATCH)]
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters

    # Per-tensor activation scales: NNCF otherwise quantizes depthwise-conv inputs per channel, which
    # onnxruntime cannot fuse into QLinearConv — MobileNet's int8 ONNX ran 4x slower than fp32 (measured).
    # Bias correction off: NNCF's fast bias correction, fitted on the calibration samples, cost agreement with
    # fp32 in onnxruntime — mobilenetv1-025 on digits 82.96% → 95.56% without it (accuracy 0.822 → 0.896, fp32
    # 0.907), resnet8 98.89% → 100%, ds-cnn 99.26% → 98.89% (one sample): benchmarks/results/bias_correction.md.
    params = AdvancedQuantizationParameters(
        activations_quantization_params=QuantizationParameters(per_channel=False),
        weights_quantization_params=None if per_channel_weights else QuantizationParameters(per_channel=False),
        disable_bias_correction=True,
        **({"overflow_fix": weights.overflow_fix()} if weights is not None else {}),
    )
    # MIXED: asymmetric activations can use the whole int8 range after ReLU, where symmetric ones waste half of
    # it. On edgekit's zoo models the two now measure the same (benchmarks/results/quantizer_choices.md:
    # mobilenetv1-025 0.5667 both, ds-cnn within one sample); asymmetric stays as the scheme with the headroom.
    with status(f"calibrating int8 ranges (NNCF, {len(picked)} samples)", progress):
        quantized = nncf.quantize(
            model.eval(),
            nncf.Dataset(batches),
            subset_size=len(batches),
            advanced_parameters=params,
            preset=nncf.QuantizationPreset.MIXED,
            **({"ignored_scope": nncf.IgnoredScope(names=list(ignored))} if ignored else {}),
        )
    record = {
        "split": "train",
        "samples": int(len(picked)),
        "unfolded_batchnorm": unfolded,
        "weights": "per-channel" if per_channel_weights else "per-tensor",
    }
    return quantized, record


def compute_ops(model: nn.Module, sample: torch.Tensor) -> dict[str, list[str]]:
    """NNCF's node names of each conv / linear of a quantized model, by module path, matched by the weight tensor each
    op's weight quantizer receives (its input port 1) in one forward pass on `sample`. NNCF names an op by the modules
    it sees called, so a layer reached through a loop over a ModuleList loses the list and its index from the name
    (a detector's backbone.layers.1.0.0 → backbone/0/0/conv2d/1): names cannot be turned back into paths."""
    from ...nn.sensitivity import COMPUTE

    owner = {id(m.weight): name for name, m in model.named_modules() if isinstance(m, COMPUTE)}
    seen: dict[str, str] = {}

    def grab(op: str):
        def hook(module, args):
            path = owner.get(id(args[0]))
            if path is not None:
                seen.setdefault(op, path)

        return hook

    handles = []
    for name, module in model.named_modules():
        hook = name.rpartition("pre_hooks.")[2]
        if "pre_hooks." in name and type(module).__name__.endswith("Quantizer") and "__1." in hook:
            handles.append(module.register_forward_pre_hook(grab(hook.rpartition("__1.")[0])))  # features/0/0/conv2d/0
    try:
        with torch.no_grad():
            model.eval()(sample)
    finally:
        for handle in handles:
            handle.remove()
    ops: dict[str, list[str]] = {}
    for op, path in seen.items():
        ops.setdefault(path, []).append(op)
    return ops


def unshare_quantizers(model: nn.Module) -> nn.Module:
    """Give every NNCF hook its own quantizer object. NNCF shares one quantizer between the inputs of a concat
    (unified scales); nncf.strip converts only the first hook holding it, and the rest exported as OpenVINO
    FakeQuantize nodes onnxruntime rejects (SqueezeNet, ShuffleNet, U-Nets). Copies keep the same scales."""
    import copy

    seen: set[int] = set()
    for module in model.modules():
        if isinstance(module, (nn.ModuleDict, nn.ModuleList)):
            for key, child in list(module._modules.items()):
                if child is not None and type(child).__name__.endswith("Quantizer"):
                    if id(child) in seen:
                        module._modules[key] = copy.deepcopy(child)
                    seen.add(id(child))
    return model


def nncf_config(model: nn.Module) -> dict:
    return import_nncf().torch.get_config(model)
