"""Bad input: one line naming the problem and the fix, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_one_line_error, run_subprocess


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--model", "nope"], ["unknown model 'nope'", "edgekit models"]),
        (["--dataset", "cifar"], ["unknown data set 'cifar'", "npz:PATH"]),
        (["--dataset", "npz:/no/such.npz"], ["data file not found", "npz:"]),
        (["--dataset", "imagefolder:/no/such/dir", "--input-shape", "3,8,8"], ["image folder not found"]),
        (["--model", "/no/such.py:Net", "--input-shape", "1,8,8"], ["model file not found"]),
        (["--model", "edgekit.zoo.resnet:Nope", "--input-shape", "1,8,8"], ["'Nope' not found"]),
        (["--model", "fc-autoencoder", "--dataset", "digits"], ["images but the model takes input shape (640,)"]),
        (["--input-shape", "1,1,1", "--dataset", "synthetic:1,1,1:2"], ["cannot take input shape (1, 1, 1)"]),
        (["--device", "tpu"], ["unknown device 'tpu'"]),
    ],
)
def test_train_bad_input(tmp_path, run_cli, args, fragments):
    out = tmp_path / "out"
    assert_one_line_error(run_cli("train", *args, "--epochs", "1", "--out", out), *fragments)
    assert not out.exists()


def test_resume_of_a_folder_that_is_not_a_run(tmp_path, run_cli):
    assert_one_line_error(run_cli("train", "--resume", tmp_path), "no interrupted training to resume")


def test_out_folder_that_exists_is_not_overwritten(tmp_path, run_cli):
    (tmp_path / "keep.txt").write_text("mine")
    assert_one_line_error(run_cli("train", "--epochs", "1", "--out", tmp_path), "already exists", "--resume")
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_npz_wrong_keys(tmp_path, run_cli):
    np.savez(tmp_path / "d.npz", a=np.zeros(3))
    assert_one_line_error(run_cli("train", "--dataset", f"npz:{tmp_path / 'd.npz'}", "--out", tmp_path / "o"), "not 'x' and 'y'")


def test_errors_exit_2_from_a_real_process(tmp_path):
    proc = run_subprocess("train", "--model", "nope", "--out", tmp_path / "o")
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown model") and "Traceback" not in proc.stderr


def test_every_command_has_help(run_cli):
    for cmd in ([], ["train"], ["models"], ["datasets"]):
        result = run_cli(*cmd, "--help")
        assert result.code == 0 and "Usage" in result.out
