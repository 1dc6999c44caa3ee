"""How much int8 costs each compute layer (conv, linear), measured in a simulation of the int8 model on the
validation split, so that mixed precision keeps the fewest MACs in float (formats/convert/mixed.py).

The simulation fake-quantizes what an int8 graph quantizes: each layer's weights (symmetric, per channel or per
tensor as the format's scheme), each layer's input and the model's output (per tensor, asymmetric, min/max of the
calibration samples). A layer left float keeps float weights; an activation stays float only between two float
layers (or from the model input into a float layer, or out of a float last layer): an int8 layer must produce int8,
so a float input costs its producer its int8 too. That is what PT2E graphs with unannotated layers do, and what
onnxruntime can fuse around NNCF's ignored layers.

One calibration pass, then one forward pass over the validation split per candidate: seconds, where quantizing,
calibrating and converting the model for every candidate took minutes. The search verifies its final choice with
the real quantizer; benchmarks/results/float_fallback.md compares the rankings.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from .evaluate import predict
from .profile import _layer_macs

COMPUTE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
CALIBRATION_BATCH = 32


@dataclass
class LayerCost:
    """One compute layer: its module path, MACs per sample, and how much the int8 error falls with it in float."""

    name: str
    macs: int
    gain: float = 0.0  # mean squared error to fp32 of the all-int8 simulation minus that with this layer float

    @property
    def gain_per_mac(self) -> float:
        return self.gain / max(self.macs, 1)


def flat(outputs) -> np.ndarray:
    """A model's outputs (an array, a tuple or a dict of arrays) as one float row per sample."""
    arrays = list(outputs.values()) if isinstance(outputs, dict) else list(outputs) if isinstance(outputs, tuple) else [outputs]
    return np.concatenate([np.asarray(a, np.float64).reshape(len(a), -1) for a in arrays], axis=1)


def mse(outputs, reference) -> float:
    return float(((flat(outputs) - flat(reference)) ** 2).mean())


def _fake_weight(weight: torch.Tensor, per_channel: bool) -> torch.Tensor:
    w = weight.detach()
    if per_channel:
        scale = w.abs().flatten(1).amax(1).clamp(min=1e-12) / 127
        return torch.fake_quantize_per_channel_affine(w, scale, torch.zeros(len(scale), dtype=torch.int32), 0, -127, 127)
    return torch.fake_quantize_per_tensor_affine(w, float(w.abs().max().clamp(min=1e-12)) / 127, 0, -127, 127)


def _fake_activation(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    low, high = min(low, 0.0), max(high, 0.0)  # zero stays exact, as every int8 scheme keeps it
    scale = max(high - low, 1e-12) / 255
    zero = max(-128, min(127, int(round(-128 - low / scale))))
    return torch.fake_quantize_per_tensor_affine(x, scale, zero, -128, 127)


class Int8Simulation:
    """The model with int8 weights and activations simulated; `outputs(x, float_layers)` leaves layers in float."""

    def __init__(self, model: nn.Module, calibration: np.ndarray, *, per_channel: bool = True):
        self.model = copy.deepcopy(model).eval()
        self.modules = {name: m for name, m in self.model.named_modules() if isinstance(m, COMPUTE)}
        self.weights = {name: m.weight.detach().clone() for name, m in self.modules.items()}
        self.fake = {name: _fake_weight(m.weight, per_channel) for name, m in self.modules.items()}
        self.inputs: dict[str, list[float]] = {}  # calibrated (min, max) of each layer's input
        self.ranges: dict[str, list[float]] = {}  # ... and of each layer's output (the last one's is the model's)
        self.macs: dict[str, int] = {}
        self.layers: list[str] = []  # in the order the forward pass runs them
        self.float: set[str] = set()
        self.calibrating = True
        for name, m in self.modules.items():
            m.register_forward_pre_hook(self._on_input(name))
            m.register_forward_hook(self._on_output(name))
        self._calibrate(calibration)
        self.calibrating = False

    def _producer(self, name: str) -> str | None:
        """The layer before this one in the forward pass (None: the model input feeds it)."""
        i = self.layers.index(name)
        return self.layers[i - 1] if i else None

    def _on_input(self, name: str):
        def hook(module, args):
            x = args[0]
            if self.calibrating:
                if name not in self.layers:
                    self.layers.append(name)
                    self.macs[name] = 0
                lo, hi = float(x.min()), float(x.max())
                seen = self.inputs.get(name)
                self.inputs[name] = [min(lo, seen[0]), max(hi, seen[1])] if seen else [lo, hi]
                return None
            producer = self._producer(name)
            if name in self.float and (producer is None or producer in self.float):
                return None  # float into a float layer
            return (_fake_activation(x, *self.inputs[name]), *args[1:])

        return hook

    def _on_output(self, name: str):
        def hook(module, args, out):
            if self.calibrating:
                self.macs[name] = max(self.macs.get(name, 0), _layer_macs(module, args[0], out) // len(out))
                lo, hi = float(out.min()), float(out.max())
                seen = self.ranges.get(name)
                self.ranges[name] = [min(lo, seen[0]), max(hi, seen[1])] if seen else [lo, hi]
                return None
            if name == self.layers[-1] and name not in self.float:
                return _fake_activation(out, *self.ranges[name])  # the int8 model's output is int8 too
            return None

        return hook

    def _calibrate(self, calibration: np.ndarray) -> None:
        predict(self.model, calibration, batch_size=CALIBRATION_BATCH)

    def outputs(self, x: np.ndarray, float_layers=()):
        """The simulated int8 model's outputs on x, the named layers (module paths) left in float."""
        self.float = set(float_layers)
        with torch.no_grad():
            for name, module in self.modules.items():
                module.weight.copy_(self.weights[name] if name in self.float or name not in self.inputs else self.fake[name])
        try:
            return predict(self.model, x)
        finally:
            self.float = set()

    def costs(self, x: np.ndarray, reference) -> list[LayerCost]:
        """Each layer alone in float: how much the simulated int8 model's error to `reference` falls."""
        base = mse(self.outputs(x), reference)
        return [LayerCost(name, self.macs[name], base - mse(self.outputs(x, [name]), reference)) for name in self.layers]
