"""One trust rule for every way a file can name code, and received run folders and pipelines as data (cases of
../shared/notes/hostile-inputs-2026-12.md, by id). Each row: one line naming the file and the key, exit code 2,
nothing written, and for the security rows a marker file the named code would create never appears.

The trust store lives in a module-private EDGEKIT_CACHE, so what these tests train is never trusted elsewhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from conftest import assert_one_line_error, export, train

TOUCHES = textwrap.dedent("""
    import pathlib, torch.nn as nn
    pathlib.Path({marker!r}).write_text("ran")   # module code: runs on import
    class Net(nn.Module):
        def __init__(self, num_classes=3, **kw):
            super().__init__()
            self.fc = nn.Linear(64, num_classes)
        def forward(self, x):
            return self.fc(x.flatten(1))
""")
# The user's own module: it imports a function that runs commands, as real modules do.
MINE = TOUCHES.replace('pathlib.Path({marker!r}).write_text("ran")   # module code: runs on import', "from subprocess import run")
PIPE = '[train]\ndataset = "synthetic:1,8,8:3:60"\nepochs = 1\n[export]\ntarget = "x86-64"\n'


@dataclass
class Case:
    name: str
    make: Callable[[Path, dict], list]  # (tmp folder, shared fixtures) → edgekit arguments
    fragment: str
    absent: tuple[str, ...] = ("out",)  # paths under tmp that must not exist afterwards
    check: Callable[[Path, dict], None] | None = None  # more to prove afterwards
    site: bool = False  # torchvision and timm stand-ins importable (neither installs here)


def _json_edit(path: Path, edit: Callable[[dict], None]) -> Path:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return path


def _copy(tmp: Path, src: Path, name: str, edit: Callable[[dict], None] | None = None, file: str = "model.json") -> Path:
    dst = tmp / name
    shutil.copytree(src, dst)
    if edit:
        _json_edit(dst / file, edit)
    return dst


def _file(tmp: Path, name: str, text: str) -> Path:
    (tmp / name).write_text(text)
    return tmp / name


def _evil(tmp: Path, name: str = "evil.py") -> Path:
    return _file(tmp, name, TOUCHES.format(marker=str(tmp / "MARKER")))


def _args(**changes) -> dict:
    """A valid train_args.json (the real schema), with `changes` (a value of ... drops that key)."""
    from edgekit.stages.train.checkpoint import TrainArgs

    args = TrainArgs(model="digits-cnn", dataset="synthetic:1,8,8:3:60", input_shape=[1, 8, 8], seed=0, device="cpu", started="x")
    merged = {**args.model_dump(mode="json"), **changes}
    return {k: v for k, v in merged.items() if v is not ...}


def _interrupted(tmp: Path, name: str = "run", **changes) -> Path:
    """A received run folder stopped mid-training: .checkpoint/train_args.json (and nothing else yet)."""
    ckpt = tmp / name / ".checkpoint"
    ckpt.mkdir(parents=True)
    (ckpt / "train_args.json").write_text(json.dumps(_args(**changes)))
    return tmp / name


def _state_with_info(tmp: Path, info: dict) -> Path:
    """An interrupted run whose state.safetensors is a well-formed file with `info` as fit()'s recorded progress."""
    import torch
    from safetensors.torch import save_file

    run = _interrupted(tmp)
    meta = {"info": json.dumps(info), "param_groups": "[]", "opt_scalars": "{}"}
    save_file({"model.w": torch.zeros(1)}, str(run / ".checkpoint" / "state.safetensors"), metadata=meta)
    return run


def _os_system(tmp: Path) -> dict:
    return {"model": "os:system", "model_args": {"command": f"touch {tmp / 'MARKER'}"}}


def _pipeline(tmp: Path, text: str, name: str = "p.toml") -> Path:
    return _file(tmp, name, text)


def _received_pipeline(tmp: Path, ctx: dict, edit_artifact: Callable[[Path], None]) -> list:
    """A half-done pipeline folder from someone else: out/train finished, out/dist/train exported (then edited)."""
    out = tmp / "out"
    out.mkdir()
    shutil.copytree(ctx["run"], out / "train")
    shutil.copytree(ctx["artifact"], out / "dist" / "train")
    edit_artifact(out / "dist" / "train")
    return ["pipeline", _pipeline(tmp, PIPE + "[bench]\nmin_queries = 5\nmin_seconds = 0.0\nwarmup = 0\n"), "--out", out]


def _add_file(art: Path, name: str, text: str) -> None:
    from edgekit.device.integrity import sha256

    (art / name).write_text(text)

    def listed(d):
        d["artifact"]["files"].append(name)
        d["artifact"]["sha256"][name] = sha256(art / name)

    _json_edit(art / "deploy.json", listed)


def _store(ctx: dict) -> dict:
    path = Path(os.environ["EDGEKIT_CACHE"]) / "trusted-code.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _nothing_of_os_trusted(tmp: Path, ctx: dict) -> None:
    assert not [k for k in _store(ctx) if k.endswith("os.py") or k == "module:os"]  # S5's side effect


def _student(tmp: Path) -> Path:
    return _file(tmp, "shrink.toml", f'[[step]]\nkind = "distill"\nstudent = "{_evil(tmp)}:Net"\nepochs = 1\n')


STAND_INS = {
    "torchvision/__init__.py": "",
    "torchvision/models/__init__.py": "def resnet18(**kw):\n    raise RuntimeError('a stand-in')\n",
    "timm/__init__.py": "def create_model(name, **kw):\n    raise RuntimeError('a stand-in')\n",
}


def pipe(text) -> Callable:
    """`edgekit pipeline` of a file holding `text` (or text(tmp))."""
    return lambda t, c: ["pipeline", _pipeline(t, text(t) if callable(text) else text), "--out", t / "out"]


def resume(**changes) -> Callable:
    """`edgekit train --resume` of a received interrupted run whose train_args.json has `changes` (values may be
    callables of tmp)."""
    return lambda t, c: ["train", "--resume", _interrupted(t, **{k: v(t) if callable(v) else v for k, v in changes.items()})]


def export_of(run: str, edit: Callable[[dict, Path], None], verb: str = "export") -> Callable:
    """`edgekit export` (or compress) of a copy of ctx[run] whose model.json `edit(d, tmp)` changed."""
    return lambda t, c: [verb, _copy(t, c[run], "run", lambda d: edit(d, t)), *(["--prune", "0.5"] if verb == "compress" else [])]


def _forged_torchvision(d: dict, t: Path) -> None:
    code = {"file": "t.ref", "sha256": "0" * 64, "origin": "torchvision.models", "entry": "x", "module": "torchvision.models"}
    d.update(source="user", arch="os:system", kwargs={"command": f"touch {t / 'MARKER'}"}, code={**code, "package": "torchvision==0.20.0"})


def _imported_function(d: dict, t: Path) -> None:
    d.update(arch=d["arch"].replace(":Net", ":run"), kwargs={"args": f"touch {t / 'MARKER'}", "shell": True})
    d["code"].update(entry="run")


def _timm_checkpoint(d: dict, t: Path) -> None:
    code = {"file": "timm.ref", "sha256": "0" * 64, "origin": "timm", "entry": "create_model", "module": "timm"}
    d.update(source="user", arch="timm:lcnet_050", kwargs={"checkpoint_path": "x.pth"}, code=code)


def _recipe(t: Path, arch: str, name: str = "r") -> Path:
    return _file(t, "r.toml", f'name = "{name}"\narch = "{arch}"\ninput_shape = [1, 8, 8]\n')


def _evil_recipe(t: Path) -> str:
    return str(_recipe(t, f"{_evil(t)}:Net"))


NO_RUN = ("run/manifest.json", "run/model.json")  # a refused resume writes nothing, not even a failed manifest

CASES = [
    # --- S4: the decision is about `arch` itself, never about the code record beside it
    Case(
        "S4 code record says torchvision, arch says os:system",
        export_of("run", _forged_torchvision),
        "run/model.json would import and run code: os:system",
        site=True,
    ),
    Case(
        "S4 code record is a file you trained with, arch says os:system",
        export_of("user_run", lambda d, t: d.update(arch="os:system", kwargs={"command": f"touch {t / 'MARKER'}"})),
        "would import and run code: os:system; it is not code you trained with",
    ),
    Case(
        "S4 a function your own file imports (subprocess.run)",
        export_of("user_run", _imported_function),
        "mine.py does not define run, it imports it",
    ),
    Case(
        "S4 a timm constructor told to load a checkpoint file",
        export_of("run", _timm_checkpoint),
        "checkpoint_path='x.pth' makes the constructor load",
        site=True,
    ),
    # --- S5, R1–R4: an interrupted run's train_args.json is data: validated, then the trust rule
    Case(
        "S5 resume naming os:system",
        resume(model="os:system", model_args=lambda t: _os_system(t)["model_args"]),
        ".checkpoint/train_args.json would import and run code: os:system",
        absent=NO_RUN,
        check=_nothing_of_os_trusted,
    ),
    Case(
        "S5 resume naming a file",
        resume(model=lambda t: f"{_evil(t)}:Net"),
        "evil.py:Net; it is not code you trained with on this machine",
        absent=NO_RUN,
    ),
    Case("S5 resume naming a recipe whose arch is a file", resume(model=_evil_recipe), "r.toml would import and run code", absent=NO_RUN),
    Case("R1 train_args.json without model", resume(model=...), "train_args.json: missing key 'model'", absent=NO_RUN),
    Case("R2 train_args.json epochs 'one'", resume(overrides={"epochs": "one"}), "train_args.json: key 'overrides.epochs'", absent=NO_RUN),
    Case(
        "R3 train_args.json of no known version",
        resume(format=None),
        "is an unversioned file, this edgekit reads edgekit.train-args/1",
        absent=NO_RUN,
    ),
    Case(
        "R3 train_args.json not JSON",
        lambda t, c: ["train", "--resume", _file(_interrupted(t) / ".checkpoint", "train_args.json", "{not json").parent.parent],
        "train_args.json is not valid JSON",
        absent=NO_RUN,
    ),
    Case(
        "R4 state.safetensors corrupt",
        lambda t, c: ["train", "--resume", _file(_interrupted(t) / ".checkpoint", "state.safetensors", "garbage").parent.parent],
        ".checkpoint/state.safetensors is corrupt",
        absent=NO_RUN,
    ),
    Case(
        "R5 state.safetensors whose recorded best score is not a number",
        lambda t, c: [
            "train",
            "--resume",
            _state_with_info(t, {"epoch": 1, "history": [], "best_epoch": 1, "best_key": ["a"], "wall_seconds": 1.0}),
        ],
        # refused when read, before any work: not later, where the optimizer's groups would not match either
        "state.safetensors is corrupt (ValidationError: 1 validation error for StateInfo",
        absent=NO_RUN,
    ),
    Case(
        "R5 state.safetensors whose kept start's key is not a list of numbers",
        lambda t, c: [
            "train",
            "--resume",
            _state_with_info(
                t, {"epoch": 1, "history": [], "best_epoch": 0, "best_key": [0.9, -0.1], "start_key": "x", "wall_seconds": 1.0}
            ),
        ],
        "state.safetensors is corrupt (ValidationError: 1 validation error for StateInfo",
        absent=NO_RUN,
    ),
    # --- SY2: links in a received run folder are refused, never followed
    Case(
        "SY2 .checkpoint is a link to a folder outside",
        lambda t, c: ["train", "--resume", _linked_checkpoint(t)],
        ".checkpoint is a symbolic link",
        absent=("outside-run/.checkpoint/state.safetensors", *NO_RUN),
    ),
    Case("SY2 model.json is a link", lambda t, c: ["export", _linked_file(t, c["run"], "model.json")], "model.json is a symbolic link"),
    Case("SY2 code/ is a link", lambda t, c: ["export", _linked_code(t, c["user_run"]), "--trust-code"], "code is a symbolic link"),
    # --- recipes, compression recipes and pipelines name code through the same rule
    Case(
        "S10 recipe arch names a file not trained with here",
        lambda t, c: ["train", "--model", _evil_recipe(t)],
        "r.toml would import and run code",
        absent=("out", "runs"),
    ),
    Case(
        "S10 compression recipe's student is a file",
        lambda t, c: ["compress", c["run"], "--recipe", _student(t)],
        "shrink.toml: step 1 would import and run code",
    ),
    Case(
        "S10 pipeline [train] model is a file",
        pipe(lambda t: PIPE.replace("[train]\n", f'[train]\nmodel = "{_evil(t)}:Net"\n')),
        "p.toml [train] model would import and run code",
    ),
    Case(
        "S10 pipeline distillation student is a file",
        pipe(lambda t: PIPE + f'[[compress]]\nname = "s"\nkind = "distill"\nstudent = "{_evil(t)}:Net"\n'),
        "p.toml [[compress]] s would import and run code",
    ),
    Case(
        "S10 pipeline ssh_config's ProxyCommand",
        pipe(PIPE + '[bench]\ndevice = "ssh://127.0.0.1"\nssh_config = "proxy.cfg"\n'),
        "[bench] ssh_config = 'proxy.cfg' would run a program on this machine",
    ),
    Case("S10 pipeline [bench] python", pipe(lambda t: PIPE + f'[bench]\npython = "{_script(t)}"\n'), "[bench] python"),
    Case(
        "S6 pipeline resumes a received out/train/.checkpoint",
        lambda t, c: ["pipeline", _pipeline(t, PIPE), "--out", _interrupted(t / "out", "train", **_os_system(t)).parent],
        "train/.checkpoint/train_args.json would import and run code: os:system",
        absent=("out/dist", "out/train/manifest.json", "out/report"),
        check=_nothing_of_os_trusted,
    ),
    Case(
        "S6 pipeline benches a received out/dist artifact: its files are checked",
        lambda t, c: _received_pipeline(t, c, lambda art: (art / "model.onnx").write_bytes((art / "model.onnx").read_bytes() + b"x")),
        "not matching the sha256 in deploy.json",
        absent=("out/report",),
    ),
    Case(
        "S6 pipeline benches a received out/dist artifact carrying json.py (S1)",
        lambda t, c: _received_pipeline(t, c, lambda art: _add_file(art, "json.py", f"open({str(t / 'MARKER')!r}, 'w').write('x')\n")),
        "json.py",
        absent=("out/report",),
    ),
    Case(
        "S6 pipeline folder whose train stage is a link",
        lambda t, c: ["pipeline", _pipeline(t, PIPE), "--out", _linked_stage(t, c["run"])],
        "out/train is a symbolic link",
        absent=("out/dist",),
    ),
    # --- S8, E9: a data path recorded in a received run is read only when it is the data it was trained on
    Case(
        "S8 model.json names someone else's data file",
        export_of("run", lambda d, t: d["dataset"].update(spec=f"npz:{_victim(t)}")),
        "run/model.json names data npz:",
    ),
    Case(
        "S8 model.json names someone else's image folder",
        export_of("run", lambda d, t: d["dataset"].update(spec=f"imagefolder:{_images(t)}"), verb="compress"),
        "that is not the data it was trained on",
    ),
    Case(
        "S8 model.json names a data file without its sha256",
        export_of("run", lambda d, t: d["dataset"].update(spec=f"npz:{_victim(t)}", sha256=None)),
        "without the sha256 of its contents",
    ),
    Case(
        "E9 the data moved",
        export_of("run", lambda d, t: d["dataset"].update(spec=f"npz:{t / 'moved' / 'd.npz'}")),
        "which is not on this machine (moved or deleted?) — pass --dataset npz:NEW_PATH",
    ),
    Case(
        "E8 --dataset with other classes",
        lambda t, c: ["export", c["run"], "--dataset", "digits"],
        "--dataset digits has 10 classes, the run 3",
    ),
    # --- S11, RC4: names that become paths are plain names, refused on read (these rows use the default --out)
    Case(
        "S11 target name escapes dist/",
        lambda t, c: ["export", c["run"], "--target", _target(t, "../../S11-escaped"), "--format", "onnx", "--precision", "fp32"],
        "key 'name': the target name '../../S11-escaped' must be a plain name",
        absent=("dist", "../../S11-escaped-onnx-fp32", "../S11-escaped-onnx-fp32"),
    ),
    Case(
        "S11 target name absolute",
        lambda t, c: ["export", c["run"], "--target", _target(t, str(t / "abs")), "--format", "onnx", "--precision", "fp32"],
        "must be a plain name",
        absent=("dist", "abs-onnx-fp32"),
    ),
    Case(
        "RC4 recipe named '..' would write the run into the working folder",
        lambda t, c: ["train", "--model", _recipe(t, "digits_cnn", name=".."), "--dataset", "synthetic:1,8,8:3:60"],
        "key 'name': the recipe name '..' must be a plain name",
        absent=("runs", "metrics.json", "manifest.json"),
        check=lambda t, c: _assert_text(t / "model.json", '{"mine": 1}'),
    ),
    Case(
        "RC4 pipeline named '../x'",
        lambda t, c: ["pipeline", _pipeline(t, 'name = "../x"\n' + PIPE)],
        "the pipeline name '../x' must be a plain name",
        absent=("runs", "../x"),
    ),
    # --- PL2–PL5: every pipeline value checked before the first stage writes
    Case("PL2 unknown format", pipe(PIPE + 'formats = ["bogus"]\n'), "key 'export.formats': unknown format 'bogus'"),
    Case("PL3 unknown target", pipe(PIPE.replace('"x86-64"', '"nosuch-board"')), "[export] target: unknown target 'nosuch-board'"),
    Case("PL3 format the target does not run", pipe(PIPE + 'formats = ["micro"]\n'), "[export] formats: x86-64 does not run micro"),
    Case("PL4 calib -5", pipe(PIPE + "calib = -5\n"), "key 'export.calib': must be ≥ 1"),
    Case("PL4 min_agreement 2", pipe(PIPE + "min_agreement = 2\n"), "key 'export.min_agreement': must lie between 0 and 1"),
    Case("PL5 bench timeout 0.0", pipe(PIPE + "[bench]\ntimeout = 0.0\n"), "key 'bench.timeout': must be > 0"),
    Case("PL5 train epochs 0", pipe(PIPE.replace("epochs = 1", "epochs = 0")), "key 'train.epochs': must be ≥ 1"),
    Case("PL5 unknown zoo model", pipe(PIPE.replace("[train]\n", '[train]\nmodel = "nonet"\n')), "[train] model: unknown model 'nonet'"),
    Case("PL5 unknown device", pipe(PIPE + '[bench]\ndevice = "emu:rpi9"\n'), "[bench] device: unknown board 'rpi9'"),
]


def _assert_text(path: Path, text: str) -> None:
    assert path.read_text() == text


def _script(tmp: Path) -> Path:
    path = _file(tmp, "fake-python", f"#!/bin/sh\ntouch {tmp / 'MARKER'}\n")
    path.chmod(0o755)
    return path


def _victim(tmp: Path) -> Path:
    (tmp / "victim").mkdir(exist_ok=True)
    np.savez(tmp / "victim" / "private.npz", x=np.full((90, 1, 8, 8), 7.0, np.float32), y=np.arange(90) % 3)
    return tmp / "victim" / "private.npz"


def _images(tmp: Path) -> Path:
    from PIL import Image

    for c in ("a", "b", "c"):
        (tmp / "imgs" / c).mkdir(parents=True)
        for i in range(10):
            Image.new("L", (8, 8), i * 20).save(tmp / "imgs" / c / f"{i}.png")
    return tmp / "imgs"


def _target(tmp: Path, name: str) -> Path:
    from edgekit.util.resources import data_dir

    text = (data_dir("targets") / "x86-64.toml").read_text()
    return _file(tmp, "board.toml", "\n".join(f'name = "{name}"' if line.startswith("name =") else line for line in text.splitlines()))


def _linked_checkpoint(tmp: Path) -> Path:
    outside = _interrupted(tmp, "outside-run") / ".checkpoint"
    (tmp / "run").mkdir()
    (tmp / "run" / ".checkpoint").symlink_to(outside)
    return tmp / "run"


def _linked_file(tmp: Path, run: Path, name: str) -> Path:
    dst = _copy(tmp, run, "run")
    shutil.copy(dst / name, tmp / name)
    (dst / name).unlink()
    (dst / name).symlink_to(tmp / name)
    return dst


def _linked_code(tmp: Path, run: Path) -> Path:
    """The code/ copy replaced by a link to a folder holding marker-writing code of the same name."""
    dst = _copy(tmp, run, "run")
    spec = json.loads((dst / "model.json").read_text())
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    _file(elsewhere, spec["code"]["file"], TOUCHES.format(marker=str(tmp / "MARKER")))
    shutil.rmtree(dst / "code")
    (dst / "code").symlink_to(elsewhere)
    return dst


def _linked_stage(tmp: Path, run: Path) -> Path:
    (tmp / "out").mkdir()
    shutil.copytree(run, tmp / "elsewhere")
    (tmp / "out" / "train").symlink_to(tmp / "elsewhere")
    return tmp / "out"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    """A private trust store; a 3-class run trained on an npz (its data's sha256 recorded), its ONNX artifact, and a
    run of the user's own module file (trusted: named on this machine's command line)."""
    root = tmp_path_factory.mktemp("trust")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGEKIT_CACHE", str(root / "cache"))
        rng = np.random.default_rng(0)
        y = np.arange(150) % 3
        x = rng.normal(size=(3, 1, 8, 8))[y] + rng.normal(size=(150, 1, 8, 8)) * 0.5
        np.savez(root / "data.npz", x=x.astype(np.float32), y=y)
        run = train("digits-cnn", f"npz:{root / 'data.npz'}", epochs=3, out=root / "run")
        art, _ = export(run, target="x86-64", fmt="onnx", precision="fp32", out=root / "art")
        _file(root, "mine.py", MINE)
        user_run = train(f"{root / 'mine.py'}:Net", "synthetic:1,8,8:3:60", epochs=1, out=root / "user_run")
        yield {"run": run, "artifact": art, "user_run": user_run, "root": root}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_received_files_name_no_code_and_no_path(case, ctx, tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default output folders (runs/, dist/) land here, where they are checked
    if case.site:
        for rel, text in STAND_INS.items():
            (tmp_path / "site" / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "site" / rel).write_text(text)
        monkeypatch.syspath_prepend(str(tmp_path / "site"))
    (tmp_path / "model.json").write_text('{"mine": 1}')  # a user's file in the working folder (RC4)
    args = [str(a) for a in case.make(tmp_path, ctx)]
    if (
        args[0] in ("train", "export", "compress")
        and "--out" not in args
        and "--resume" not in args
        and not case.name.startswith(("S11", "RC4"))
    ):
        args += ["--out", str(tmp_path / "out")]
    result = run_cli(*args)
    assert_one_line_error(result, case.fragment)
    for rel in case.absent:
        assert not (tmp_path / rel).exists(), rel
    assert not (tmp_path / "MARKER").exists(), "the named code ran"
    assert not list(tmp_path.glob("**/.*.partial")) and not list(tmp_path.glob("**/.*.tmp")) and not list(tmp_path.glob("**/.*.lock"))
    if case.check:
        case.check(tmp_path, ctx)


# ---------------------------------------------------------------- the rule lets through what it should


def test_trust_code_runs_what_a_recipe_names_and_trusts_it_only_that_once(ctx, tmp_path, run_cli):
    """The flag does what it says (the code ran), and never makes a file's code trusted later."""
    recipe = _file(tmp_path, "r.toml", f'name = "r"\narch = "{_evil(tmp_path)}:Net"\ninput_shape = [1, 8, 8]\n')
    args = ["train", "--model", recipe, "--dataset", "synthetic:1,8,8:3:60", "--epochs", "1"]
    assert_one_line_error(run_cli(*args, "--out", tmp_path / "o1"), "r.toml would import and run code")
    assert not (tmp_path / "MARKER").exists()
    trusted = run_cli(*args, "--out", tmp_path / "o2", "--trust-code")
    assert trusted.code == 0, trusted.err
    assert (tmp_path / "MARKER").exists()
    assert not [k for k in _store(ctx) if "evil.py" in k]  # only code typed on the command line is remembered


def test_resume_under_trust_code_runs_what_train_args_names_and_remembers_nothing(ctx, tmp_path, run_cli):
    run = _interrupted(tmp_path, **_os_system(tmp_path))
    result = run_cli("train", "--resume", run, "--trust-code")
    assert (tmp_path / "MARKER").exists()  # the flag reached the trust rule: os.system ran
    assert_one_line_error(result, "os:system returned int, not a torch.nn.Module")
    _nothing_of_os_trusted(tmp_path, ctx)


def test_your_own_interrupted_run_resumes_without_a_flag(ctx, tmp_path, run_cli):
    """train_args.json naming the file the user trained with on this machine (the trust store): no flag needed."""
    run = _interrupted(tmp_path, model=f"{ctx['root'] / 'mine.py'}:Net", overrides={"epochs": 1})
    result = run_cli("train", "--resume", run)
    assert result.code == 0, result.err
    spec = json.loads((run / "model.json").read_text())
    assert spec["code"]["file"] == "mine.py" and not (run / ".checkpoint").exists()


def test_a_file_changed_since_training_is_named_so(ctx, tmp_path, run_cli):
    """TR1: not "not a file you trained with" — the same file, changed, with the hash it has now."""
    mine = _file(tmp_path, "net.py", MINE)
    assert (
        run_cli("train", "--model", f"{mine}:Net", "--dataset", "synthetic:1,8,8:3:60", "--epochs", "1", "--out", tmp_path / "run").code
        == 0
    )
    mine.write_text(MINE + "\n# edited\n")
    result = run_cli("export", tmp_path / "run", "--format", "onnx", "--precision", "fp32", "--out", tmp_path / "o")
    assert_one_line_error(result, f"{mine} changed since you trained with it (sha256 ", "--trust-code")
    assert not (tmp_path / "o").exists()


def test_an_unwritable_trust_store_is_said_at_train_and_named_at_export(tmp_path, run_cli, monkeypatch):
    """X15: EDGEKIT_CACHE is a file. Train says the store could not be written; export names the store, not the code."""
    (tmp_path / "cf").write_text("a file")
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cf"))
    mine = _file(tmp_path, "net.py", MINE)
    trained = run_cli("train", "--model", f"{mine}:Net", "--dataset", "synthetic:1,8,8:3:60", "--epochs", "1", "--out", tmp_path / "run")
    assert trained.code == 0, trained.err
    warnings = [line for line in trained.out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "trust store" in warnings[0] and "could not be written" in warnings[0], trained.out
    result = run_cli("export", tmp_path / "run", "--format", "onnx", "--precision", "fp32", "--out", tmp_path / "o")
    assert_one_line_error(result, f"the trust store {tmp_path / 'cf' / 'trusted-code.json'} could not be read", "--trust-code")


def test_recorded_data_is_read_when_it_is_the_training_data_and_moved_data_is_named_with_dataset(ctx, tmp_path, run_cli):
    """S8/E9 from the other side: the recorded file, unchanged, is read (and said); moved, --dataset names it."""
    same = run_cli("export", ctx["run"], "--format", "onnx", "--precision", "fp32", "--out", tmp_path / "a")
    assert same.code == 0, same.err
    assert f"data: npz:{ctx['root'] / 'data.npz'}, recorded in {ctx['run'] / 'model.json'}" in " ".join(same.out.split())
    shutil.copy(ctx["root"] / "data.npz", tmp_path / "moved.npz")
    run = _copy(tmp_path, ctx["run"], "run", lambda d: d["dataset"].update(spec=f"npz:{tmp_path / 'gone.npz'}"))
    moved = run_cli(
        "export", run, "--format", "onnx", "--precision", "fp32", "--dataset", f"npz:{tmp_path / 'moved.npz'}", "--out", tmp_path / "b"
    )
    assert moved.code == 0, moved.err


def test_a_second_writer_of_the_same_out_is_one_line_and_a_dead_writers_lock_is_taken_over(tmp_path, run_cli):
    """CONC: a real second process holds the folder's lock; when it dies (kill -9, lock file left behind) the
    next writer takes the folder over."""
    from edgekit.util.lock import lock_path

    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from edgekit.util.lock import writing\nwith writing({str(out)!r}):\n    print('held', flush=True)\n    input()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        args = ["train", "--dataset", "synthetic:1,8,8:3:60", "--epochs", "1", "--out", out]
        assert_one_line_error(run_cli(*args), f"{out} is being written by process {holder.pid}", "choose another --out")
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    assert lock_path(out).exists()  # killed: its lock file stayed, but the kernel dropped the lock
    second = run_cli(*args)
    assert second.code == 0, second.err
    assert (out / "model.json").is_file() and not lock_path(out).exists()
