"""The Format protocol: what every artifact format declares and how it builds an artifact folder."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import EdgekitError

VNNI = {"avx512_vnni", "avx_vnni", "amx_int8"}  # x86 ISA flags with int8 dot products (targets' `isa`)


@dataclass
class BuildJob:
    """Everything a format needs to write its files into `folder`."""

    run: Any  # runs.Run
    float_model: Any  # nn.Module: the run's float network (batch-norm folded for quantized runs)
    folder: Path
    precision: str
    calibration: np.ndarray | None  # normalised train samples for int8
    samples: np.ndarray  # a few normalised test samples (arena measurement, sanity checks)
    target: Any  # targets.Target
    dynamic_batch: bool = False
    int8_scheme: dict = field(default_factory=dict)  # ISA-aware choices (per-tensor weights, ...) and why
    runtime_options: dict = field(default_factory=dict)  # --runtime-option KEY=VALUE, checked against the format's keys
    say: Callable[[str], None] = lambda m: None
    progress: bool = True
    validation: Any = None  # convert.pt2e.Validation: int8 that misses the floor on it may keep early layers float
    keep_float: tuple[str, ...] = ()  # --keep-float: the user's float layers (module paths), no search

    @property
    def input_shape(self) -> list[int]:
        return self.run.spec.input_shape


@dataclass
class Built:
    """What a format wrote and what deploy.json, the parity check and the export table must know."""

    files: list[str]  # what the runtime loads: plain names in the folder; the first is the model file
    sidecar: list[str] = field(default_factory=list)  # shipped beside it but not run (C array sources)
    quantizer: str | None = None  # exactly which tool made the int8/fp16 numbers, in words
    reference: str = "fp32"  # "fp32": the run's float model is the reference; "run": the run's own quantized model
    toolchain: dict = field(default_factory=dict)
    runtime_options: dict = field(default_factory=dict)  # what the adapter needs (tensor arena, fp16 switches, ...)
    extras: dict = field(default_factory=dict)  # shown in deploy.json["extras"] (ops, C array, Edge TPU mapping, ...)
    notes: list[str] = field(default_factory=list)  # shown under the export table


class Format:
    name: str
    runtime: str  # key of edgekit/device/runtimes/__init__.py RUNTIMES
    precisions: tuple[str, ...]
    dynamic_batch: bool = False
    # (importable module, pip extra) this format's converter needs beyond edgekit's defaults
    requires: tuple[tuple[str, str], ...] = ()
    runtime_option_keys: dict[str, type] = {}  # what --runtime-option may set for this format
    # The quantizer that makes this format's int8 (stages/compress/quantizers.py): a QAT run trained with it is
    # exported with its trained ranges; a QAT run of another quantizer is refused. None: no trainable quantizer.
    int8_quantizer: str | None = None
    # What a run's model must run in (ModelSpec.runs_in) for this format to build from it: a PyTorch module, or
    # an imported ONNX graph that only onnxruntime runs (edgekit/onnxgraph/).
    builds_from: tuple[str, ...] = ("pytorch",)
    # Whether its int8 graph can run chosen layers in float between quantize/dequantize pairs (convert/mixed.py):
    # the float fallback on a missed floor, and --keep-float.
    float_layers: bool = False

    def int8_scheme(self, target) -> dict:
        """The int8 scheme for a target's CPU, and why (shown in the export table): per-channel weights by default."""
        return {"weights": "per-channel"}

    def check_runtime_options(self, options: dict) -> None:
        for key, value in options.items():
            if key not in self.runtime_option_keys:
                raise EdgekitError(
                    f"the {self.name} format has no runtime option '{key}'", f"its options: {', '.join(self.runtime_option_keys) or 'none'}"
                )
            if not isinstance(value, self.runtime_option_keys[key]):
                raise EdgekitError(
                    f"runtime option {key} must be {self.runtime_option_keys[key].__name__}, got {value!r}",
                    "e.g. --runtime-option fp16_arithmetic=true",
                )

    def needs_calibration(self, precision: str, quantized_run) -> bool:
        """int8 is calibrated at export, unless a QAT run's trained ranges ship (`quantized_run`: the run's
        quantization record; a plain bool from older callers)."""
        carried = (
            isinstance(quantized_run, dict)
            and quantized_run.get("method") == "qat"
            and quantized_run.get("quantizer", "nncf") == self.int8_quantizer
        )
        return precision == "int8" and not carried

    def check_available(self) -> None:
        for module, extra in self.requires:
            if importlib.util.find_spec(module) is None:
                raise EdgekitError(
                    f"the {self.name} format needs {module}, which is not installed", f"install it: pip install 'edgekit[{extra}]'"
                )

    def build(self, job: BuildJob) -> Built:
        raise NotImplementedError
