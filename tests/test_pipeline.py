"""`edgekit pipeline`: one TOML from data to the device report, resuming at the first unfinished stage."""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error

QUICK = """
name = "quick"
[train]
model = "digits-cnn"
dataset = "digits"
epochs = 8

[[compress]]
name = "pruned"
kind = "prune"
ratio = 0.5
finetune = 3

[[compress]]
name = "qat"
kind = "qat"
epochs = 1

[export]
target = "rpi4"

[bench]
min_queries = 200
min_seconds = 0.3
warmup = 10
"""


@pytest.mark.slow
def test_pipeline_runs_every_stage_then_resumes_without_redoing_them(tmp_path, run_cli):
    (tmp_path / "quick.toml").write_text(QUICK)
    out = tmp_path / "p"
    first = run_cli("pipeline", tmp_path / "quick.toml", "--out", out)
    assert first.code == 0, first.err
    assert "[run] train" in first.out and "[run] compress qat" in first.out and "Pareto front" in first.out
    rep = json.loads((out / "report" / "report.json").read_text())
    assert [(e["format"], e["precision"]) for e in rep["entries"]] == [("tflite", "fp32"), ("tflite", "fp32"), ("tflite", "int8")]
    assert rep["passed"] and any(e["pareto"] for e in rep["entries"])
    assert json.loads((out / "qat" / "manifest.json").read_text())["parent"] == str((out / "pruned").resolve())
    again = run_cli("pipeline", tmp_path / "quick.toml", "--out", out)
    assert again.code == 0, again.err
    for stage in ("train", "pruned", "qat", "export train", "export pruned", "export qat"):
        assert f"[skip] {stage}" in again.out


def test_the_embedded_default_pipeline_is_digits_to_rpi4():
    from edgekit.stages.pipeline import load_pipeline

    p = load_pipeline(None)
    assert p.file.train.model == "digits-cnn" and p.file.export.target == "rpi4"
    assert [c["kind"] for c in p.file.compress] == ["prune", "qat"] and p.file.compress[0]["ratio"] == 0.5


@pytest.mark.parametrize(
    "text, fragment",
    [
        (QUICK.replace("epochs = 8", "epochs = 8\nspeed = 1"), "unknown key 'train.speed'"),
        (QUICK.replace('kind = "prune"', 'kind = "squash"'), "unknown kind 'squash'"),
        (QUICK.replace('name = "pruned"\n', ""), "needs name"),
    ],
)
def test_pipeline_file_errors(tmp_path, run_cli, text, fragment):
    (tmp_path / "bad.toml").write_text(text)
    assert_one_line_error(run_cli("pipeline", tmp_path / "bad.toml", "--out", tmp_path / "p"), fragment)
    assert not (tmp_path / "p").exists()  # rejected before any stage ran
