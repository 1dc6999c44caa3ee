"""The data folders (targets/, models/, pipelines/) work from an installed wheel as from a checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
from conftest import REPO


@pytest.mark.slow
def test_wheel_carries_targets_models_and_pipelines(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("edgekit-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # A fresh interpreter that sees only the unpacked wheel's edgekit (not the checkout).
    probe = (
        "import edgekit.util.resources as r, edgekit.targets as t, edgekit.recipes as m, edgekit.stages.pipeline as p; "
        "print(r.__file__); print(sorted(t.all_targets())); print(sorted(m.zoo_recipes())); print(p.load_pipeline(None).name)"
    )
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {probe}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith(str(site))
    assert "rpi4" in lines[1] and "cortex-m4" in lines[1] and "resnet8" in lines[2] and lines[3] == "digits"
