"""How much of the int8 range NNCF gives each layer's weights, by the CPUs that run them (NNCF's "overflow fix"): one
rule for the ONNX and OpenVINO int8 exports.

x86 CPUs without VNNI multiply u8 activations by s8 weights in pairs summed into 16 bits (vpmaddubsw), which
saturates on full-range weights; onnxruntime's and OpenVINO's x86 int8 kernels then compute wrong sums. NNCF's
default guards against it on every target by giving the first convolution's weights half the range (7 bits). Where
the CPU sums int8 products in 32 bits (VNNI on x86; every ARM core) that halves the precision of the layer int8 hurts
most on MobileNets for nothing: mobilenetv1-025's OpenVINO int8 agreed 97.78% with fp32 on the test split with its
first layer halved, 99.26% in full range (benchmarks/results/openvino_int8.md). So full range wherever both the
target's CPU and this machine (where the export's parity check runs) are safe; NNCF's default for an x86 target whose
ISA the profile does not list; and where a CPU saturates, the format's own guard (OpenVINO: every layer halved, since
an earlier session saw later layers lose agreement on an AVX2 machine with the first alone, not recorded under
benchmarks/; onnxruntime: per-tensor weights, formats/onnx.py, with NNCF's first-layer default).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

from ...targets import host_isa
from ..base import VNNI

X86 = ("x86_64", "AMD64")


@dataclass(frozen=True)
class WeightRange:
    """Which layers' int8 weights use half the int8 range ("none", "first": NNCF's default, "every"), and why."""

    halved: str
    reason: str

    def overflow_fix(self):
        """NNCF's OverflowFix for it."""
        from nncf.quantization.advanced_parameters import OverflowFix

        return {"none": OverflowFix.DISABLE, "first": OverflowFix.FIRST_LAYER, "every": OverflowFix.ENABLE}[self.halved]

    def describe(self) -> str:
        where = {"none": "full int8 range on every layer", "first": "half the int8 range on the first layer (NNCF's default)"}
        return where.get(self.halved, "half the int8 range on every layer") + f": {self.reason}"


# The layers halved where a CPU that runs the weights has no VNNI: OpenVINO every layer; onnxruntime the first (NNCF's
# default), its per-tensor weights there keeping the rest exact (formats/onnx.py int8_scheme).
WHERE_SATURATING = {"openvino": "every", "onnxruntime": "first"}


def weight_range(target, runtime: str) -> WeightRange:
    """The weight range of NNCF int8 for `target` run in `runtime` ("openvino" or "onnxruntime")."""
    where_saturating = WHERE_SATURATING[runtime]
    if target.isa is not None and not VNNI & target.isa:
        return WeightRange(where_saturating, f"{target.name}'s CPU has no VNNI: its x86 int8 kernels saturate on full-range weights")
    if platform.machine() in X86 and not VNNI & host_isa():
        return WeightRange(
            where_saturating, "this machine (where the parity check runs) has no VNNI: its x86 int8 kernels saturate on full-range weights"
        )
    if target.isa is None and target.kind == "linux-x86_64":
        return WeightRange("first", f"{target.name}'s profile lists no ISA flags, so its CPU may lack VNNI")
    cpu = "x86 CPU has VNNI" if target.isa is not None else "CPU is not x86"
    return WeightRange("none", f"the target's {cpu} and this machine sums int8 products in 32 bits")


def record_weight_range(built, weights: WeightRange) -> None:
    """deploy.json's extras say which weights were halved and why; the export's notes say so when any were (the
    artifact then holds less precision than the format could, and the reason says what would change it)."""
    built.extras["int8_weight_range"] = {"halved": weights.halved, "reason": weights.reason}
    if weights.halved != "none":
        built.notes.append(f"int8 weights use {weights.describe()}")
