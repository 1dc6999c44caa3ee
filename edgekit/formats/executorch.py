"""ExecuTorch (PyTorch's on-device runtime) with the XNNPACK backend: torch.export → to_edge_transform_and_lower
→ `.pte`. int8 uses the XNNPACK quantizer through PT2E (the same scheme as the LiteRT int8 path), calibrated in
batches. The Python runtime on a device needs the torch wheel (its extension links torch)."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import EdgekitError
from ..nn.fold import fold_batchnorm
from ..util.progress import status
from ..util.quiet import captured_fds, quiet_import
from .base import BuildJob, Built, Format
from .convert.pt2e import pt2e_search, record, xnnpack_quantizer
from .convert.toolchain import base_toolchain, version


def _int8(model, calibration: np.ndarray, example, progress: bool, validation=None, say=lambda m: None, keep=()):
    """The model quantized for XNNPACK; the layers int8 hurts most stay float if full int8 misses the floor, or the
    user's `keep` (convert/mixed.py)."""
    fold_batchnorm(model)
    graph, info, _ = pt2e_search(model, calibration, example, xnnpack_quantizer, validation, progress=progress, say=say, keep=keep)
    return graph, info


# ARMv8.0 cores, without the dot-product instructions of ARMv8.2. Under the emulated A72 the int8 program stops on
# `sdot` in the XNNPACK int8 kernels linked into ExecuTorch 1.0.1's aarch64 _portable_lib, although the guest's
# AT_HWCAP and /proc/cpuinfo report no asimddp (benchmarks/results/runtimes.md, the note).
ARMV8_0_CORES = {"Cortex-A53", "Cortex-A57", "Cortex-A72", "Cortex-A73", "Cortex-A35"}


class ExecuTorchFormat(Format):
    name = "executorch"
    float_layers = True
    runtime = "executorch"
    precisions = ("fp32", "int8")
    requires = (("executorch", "executorch"),)
    int8_quantizer = "pt2e-xnnpack"

    def build(self, job: BuildJob) -> Built:
        quiet_import("executorch.exir")  # its import logs pytree notices
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        example = torch.zeros(1, *job.input_shape)
        import copy

        model = copy.deepcopy(job.float_model).eval()
        quantizer = None
        reference, kept = "fp32", None
        if job.precision == "int8" and _carries_qat(job.run.spec.quantization):
            from ..stages.compress.pt2e_qat import converted

            model, reference = converted(job.run.model), "run"
            epochs = job.run.spec.quantization.get("epochs")
            quantizer = f"XNNPACK quantizer, PT2E (torchao {version('torchao')}): the QAT run's trained ranges ({epochs} epochs)"
        elif job.precision == "int8":
            validation = None if job.target.runtime.full_int8_only else job.validation
            model, kept = _int8(model, job.calibration, example, job.progress, validation, job.say, job.keep_float)
            quantizer = f"XNNPACK quantizer, PT2E (torchao {version('torchao')}), calibrated on {len(job.calibration)} train samples"
            quantizer += kept.quantizer_note()
        with status(f"lowering to ExecuTorch {job.precision} (XNNPACK)", job.progress):
            try:
                with captured_fds():
                    program = to_edge_transform_and_lower(
                        torch.export.export(model, (example,)), partitioner=[XnnpackPartitioner()]
                    ).to_executorch()
            except Exception as e:
                raise EdgekitError(
                    f"ExecuTorch lowering failed: {str(e).splitlines()[0][:160] if str(e) else type(e).__name__}",
                    "replace that layer, or try --format onnx / tflite",
                ) from e
        (job.folder / "model.pte").write_bytes(program.buffer)
        built = Built(
            files=["model.pte"],
            quantizer=quantizer,
            toolchain=base_toolchain() | {"converter": f"executorch {version('executorch')} (XNNPACK partitioner)"},
            reference=reference,
        )
        if kept is not None:
            record(built, kept)
        if job.precision == "int8" and job.target.hardware.cpu in ARMV8_0_CORES:
            built.notes.append(
                f"ExecuTorch int8 on a {job.target.hardware.cpu}: under the emulated Pi 4 (Cortex-A72) the aarch64 "
                "ExecuTorch 1.0.1 runtime stopped on an illegal instruction (sdot, ARMv8.2) with int8 programs (fp32 ran; the A76 "
                "ran both). Check it on the board (edgekit bench --device ssh://...) or use --format tflite"
            )
        return built


FORMAT = ExecuTorchFormat()


def _carries_qat(record: dict) -> bool:
    """A QAT run trained with XNNPACK's quantizer: its own int8 graph ships (plan.py refused other QAT runs)."""
    from ..stages.compress.quantizers import is_qat, trained

    return is_qat(record) and trained(record) == "pt2e-xnnpack"
