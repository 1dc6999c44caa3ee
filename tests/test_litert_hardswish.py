"""LiteRT's int8 HARD_SWISH as the frozen QAT model computes it (formats/convert/litert_hardswish.py): a table per
layer measured in the runtime, the same in the board's aarch64 LiteRT as here."""

from __future__ import annotations

import json
import subprocess

import numpy as np
from conftest import emulated_board

from edgekit.formats.convert.litert_hardswish import INT8_VALUES, hardswish_tables, probe_model


def _qparams(n: int) -> list[tuple[float, int, float, int]]:
    """Ranges like a trained network's hard-swish layers: inputs over a few units, outputs from -0.375 up."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        lo, hi = -rng.uniform(1, 8), rng.uniform(1, 12)
        in_scale = (hi - lo) / 255
        out_hi = hi * min(hi + 3, 6) / 6
        out_scale = (out_hi + 0.375) / 255
        out.append((in_scale, int(round(-128 - lo / in_scale)), out_scale, int(round(-128 + 0.375 / out_scale))))
    return out


def _exact(in_scale, in_zero, out_scale, out_zero) -> np.ndarray:
    x = (INT8_VALUES.astype(np.float64) - in_zero) * in_scale
    return np.clip(np.round(x * np.clip(x + 3, 0, 6) / 6 / out_scale) + out_zero, -128, 127)


def test_the_table_is_the_runtimes_kernel_a_step_off_exact_rounding_on_a_few_values():
    params = _qparams(40)
    tables = hardswish_tables(params)
    steps = [table.astype(np.int64) - _exact(*p) for p, table in zip(params, tables)]
    assert all(np.abs(s).max() <= 1 for s in steps)  # LiteRT's fixed point: at most one step from exact
    assert sum(int((s != 0).sum()) for s in steps) > 0  # and not the exact formula: a table worth measuring
    assert all(t.dtype == np.int8 and t.shape == (256,) for t in tables)


def test_the_board_runtime_computes_the_same_table(tmp_path):
    """The board runs LiteRT's aarch64 (NEON) kernel: under emulation it gives the table measured on this machine."""
    from edgekit.emulate.rootfs import python_argv, python_env

    folder = emulated_board("rpi4")
    params = _qparams(12)
    (tmp_path / "probe.tflite").write_bytes(probe_model(tuple(params)))
    code = (
        "import json, numpy as np\n"
        "from ai_edge_litert.interpreter import Interpreter\n"
        f"it = Interpreter(model_path={str(tmp_path / 'probe.tflite')!r}); it.allocate_tensors()\n"
        "for d in it.get_input_details(): it.set_tensor(d['index'], np.arange(-128, 128, dtype=np.int8))\n"
        "it.invoke()\n"
        "print(json.dumps([it.get_tensor(d['index']).tolist() for d in it.get_output_details()]))\n"
    )
    done = subprocess.run([*python_argv(folder), "-c", code], capture_output=True, text=True, timeout=300, env=python_env(folder, "rpi4"))
    assert done.returncode == 0, done.stderr[-2000:]
    board = json.loads(done.stdout.strip().splitlines()[-1])
    assert board == [t.tolist() for t in hardswish_tables(params)]
