"""A received artifact folder on bench and predict (issue 20's device rows). The runner's import path holds
edgekit's device files only, so nothing a received folder or a predict input names is ever imported — on this
machine, over a real OpenSSH server and on an emulated board; every artifact folder is checked on the host
before any device work; messages name the file and the key, and never pass a terminal control code on."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from conftest import BadInput, assert_one_line_error, emulated_board, export, require_tool, train
from sshd import start_sshd

from edgekit.contracts import load_deploy
from edgekit.stages.bench.harness import Measurement, RunFailed, run_on_device
from edgekit.stages.bench.transports import LocalTransport, SshTransport

QUICK = ["--min-queries", "5", "--min-seconds", "0", "--warmup", "0"]
FP32 = ["--format", "onnx", "--precision", "fp32"]
ESC = "\x1b"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    root = tmp_path_factory.mktemp("device")
    run = train("digits-cnn", "synthetic:1,8,8:3:200", out=root / "run", epochs=2)
    art, _ = export(run, fmt="onnx", precision="fp32", out=root / "art")
    sample = root / "s.npy"
    with np.load(art / "eval.npz") as ev:
        np.save(sample, ev["raw"][0])
    # the tiny run misses x86-64's accuracy budget; these tests are about files, not figures
    lenient = root / "lenient.toml"
    lenient.write_text((Path(__file__).parent.parent / "targets" / "x86-64.toml").read_text().replace("accuracy = 0.90", "accuracy = 0.0"))
    return {"run": run, "artifact": art, "sample": sample, "lenient": lenient}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _art(tmp: Path, c: dict, edit: Callable[[dict], None] = lambda d: None, files: dict | None = None) -> Path:
    """A copy of the artifact with extra files written and deploy.json edited — hashes made right, as an attacker
    who hands over the whole folder would make them."""
    art = tmp / "art"
    shutil.copytree(c["artifact"], art)
    for name, data in (files or {}).items():
        (art / name).write_bytes(data)
    d = json.loads((art / "deploy.json").read_text())
    edit(d)
    for name in d["artifact"]["files"]:
        if (art / name).is_file():
            d["artifact"]["sha256"][name] = _sha(art / name)
    (art / "deploy.json").write_text(json.dumps(d))
    return art


def _listed(name: str) -> Callable[[dict], None]:
    return lambda d: d["artifact"]["files"].append(name)


def _marker_code(tmp: Path) -> bytes:
    return f"open({str(tmp / 'pwned')!r}, 'w').write('ran')\ndef mark(tag=0): pass\n".encode()


def _eval(tmp: Path, c: dict, **arrays) -> Path:
    """The artifact with eval.npz replaced by `arrays` (None drops a key) and its sha256 and sample count updated."""
    with np.load(c["artifact"] / "eval.npz") as ev:
        data = {k: ev[k] for k in ev.files}
    data.update(arrays)
    data = {k: v for k, v in data.items() if v is not None}
    art = _art(tmp, c)
    np.savez(art / "eval.npz", **data)
    d = json.loads((art / "deploy.json").read_text())
    d["eval"]["sha256"] = _sha(art / "eval.npz")
    (art / "deploy.json").write_text(json.dumps(d))
    return art


def _symlinked(tmp: Path, c: dict, name: str, target: str) -> Path:
    art = _art(tmp, c)
    (art / name).unlink()
    (art / name).symlink_to(target)
    return art


def _model_json(tmp: Path, c: dict, edit: Callable[[dict], None]) -> Path:
    run = tmp / "run"
    shutil.copytree(c["run"], run)
    d = json.loads((run / "model.json").read_text())
    edit(d)
    (run / "model.json").write_text(json.dumps(d))
    return run


def _file(tmp: Path, name: str, data: bytes) -> Path:
    (tmp / name).write_bytes(data)
    return tmp / name


@dataclass
class Case(BadInput):
    absent: tuple[str, ...] = ("r.html", "r.md", "r.json", "out")  # bench's report files too


def _bench(edit=lambda d: None, files=lambda t: {}):
    """bench on a copy of the artifact with deploy.json edited and files(tmp) added."""
    return lambda t, c: ["bench", _art(t, c, edit, files(t))]


def _code_named(name: str):
    """The artifact with `name` (code that writes the marker) listed in artifact.files."""
    return _bench(_listed(name), lambda t: {name: _marker_code(t)})


def _predict(*names: str):
    """predict on the artifact with the sample and files of these names holding marker code."""
    return lambda t, c: ["predict", c["artifact"], c["sample"], *(_file(t, n, _marker_code(t)) for n in names)]


def _image_resize(d: dict) -> None:
    d["preprocess"].update(input={"kind": "image", "channels": "L"})
    d["preprocess"]["steps"].insert(0, {"op": "resize", "size": [300000, 300000]})


NO_REPORT = ("r.html", "r.md", "r.json", "out")
CODE = "is a code file name"
ESCAPES = "\x1b]2;HACKED\x07\x1b[2J"
EMPTY = {"raw": np.zeros((0, 1, 8, 8), np.float32), "y": np.zeros(0, int), "reference": np.zeros((0, 3), np.float32)}

# fmt: off
CASES = [
    # --- S1, S2, S7: a received artifact's own code names (refused on the host; inert on the device anyway)
    Case("S1 artifact json.py shadows stdlib", _code_named("json.py"),
         ("deploy.json: key 'artifact.files'", f"'json.py' {CODE}", "re-export")),
    Case("S2 artifact quality.py replaces a runner sibling", _code_named("quality.py"), ("key 'artifact.files'", f"'quality.py' {CODE}")),
    Case("S1 artifact native module json.so", _code_named("json.cpython-311-x86_64-linux-gnu.so"), (CODE,)),
    Case("S1 artifact lists a .pth file", _code_named("evil.pth"), (f"'evil.pth' {CODE}",)),
    Case("S7 eval file runner.py", _bench(lambda d: d["eval"].update(file="runner.py"), lambda t: {"runner.py": _marker_code(t)}),
         ("key 'eval.file'", f"'runner.py' {CODE}")),
    Case("S7 eval file is deploy.json", _bench(lambda d: d["eval"].update(file="deploy.json")),
         ("key 'eval.file'", "the artifact's own deploy.json")),
    Case("S7 eval file is also an artifact file", _bench(lambda d: d["eval"].update(file="model.onnx")),
         ("deploy.json", "eval.file 'model.onnx' is also one of artifact.files")),
    Case("S1 an artifact file listed twice", _bench(_listed("model.onnx")), ("key 'artifact.files'", "names 'model.onnx' more than once")),
    # --- S3: predict inputs named like code run nothing (generated names on the device, inputs/ off the import path)
    Case("S3 predict input named marker.py", _predict("marker.py"), ("marker.py",), absent=()),
    Case("S3 predict input named like a stdlib module", _predict("json.py"), ("json.py",), absent=()),
    Case("P-dir predict input is a folder", lambda t, c: ["predict", c["artifact"], (t / "inputs").mkdir() or t / "inputs"],
         ("inputs is a folder, not a file",), absent=()),
    # --- D9: symlinks in a received artifact folder are refused, never followed or copied
    Case("D9 eval.npz is a symlink to /etc/passwd", lambda t, c: ["bench", _symlinked(t, c, "eval.npz", "/etc/passwd")],
         ("holds symbolic links (eval.npz)", "copy the real files in")),
    Case("D9 model file is a symlink", lambda t, c: ["bench", _symlinked(t, c, "model.onnx", str(c["artifact"] / "model.onnx"))],
         ("holds symbolic links (model.onnx)",)),
    Case("D9 deploy.json is a symlink",
         lambda t, c: ["predict", _symlinked(t, c, "deploy.json", str(c["artifact"] / "deploy.json")), c["sample"]],
         ("holds symbolic links (deploy.json)",), absent=()),
    # --- D7: eval.npz is covered by a sha256, checked on the host (and on the device: see below)
    Case("D7 eval.npz relabelled to the reference", lambda t, c: ["bench", _art(t, c, files={"eval.npz": _relabelled(c)})],
         ("eval.npz missing or not matching the sha256 in deploy.json",)),
    Case("D7 deploy.json without eval.sha256", _bench(lambda d: d["eval"].pop("sha256")),
         ("missing key 'eval.sha256'", "re-export it with `edgekit export`")),
    # --- D8: eval.npz contents, validated on the host, naming eval.npz and the key
    Case("D8 eval.npz with no samples", lambda t, c: ["bench", _eval(t, c, **EMPTY)],
         ("eval.npz: 0 raw samples, 0 labels (y) and 0 reference outputs", "at least one")),
    Case("D8 eval.npz without reference", lambda t, c: ["bench", _eval(t, c, reference=None)], ("eval.npz: key 'reference' missing",)),
    Case("D8 eval.npz counts differ", lambda t, c: ["bench", _eval(t, c, y=np.zeros(3, int))], ("eval.npz", "3 labels (y)")),
    Case("D8 eval.npz NaN reference", lambda t, c: ["bench", _eval(t, c, reference=np.full((30, 3), np.nan, np.float32))],
         ("eval.npz: key 'reference' holds NaN",)),
    Case("D8 eval.npz pickled objects", lambda t, c: ["bench", _eval(t, c, y=np.array([{"a": 1}] * 30, dtype=object))],
         ("eval.npz is not a plain array file", "pickled")),
    Case("D8 eval.npz declares 10^12 samples", lambda t, c: ["bench", _eval_bomb(t, c)],
         ("eval.npz declares", "GiB of arrays (at most 4 GiB)")),
    # --- D13, D12, D3, engine cache: deploy.json values checked on the host
    Case("D13 task anomaly on a classifier", _bench(lambda d: d.update(task="anomaly")),
         ("deploy.json says task 'anomaly' but its output shape [1, 3] is not its input shape",)),
    Case("D13 classifier output without class scores", _bench(lambda d: d["outputs"][0].update(shape=[1, 1])),
         ("deploy.json says task 'classification' but its output shape [1, 1] holds no class scores",)),
    Case("D12 threads -3", _bench(lambda d: d["runtime"].update(threads=-3)), ("deploy.json: key 'runtime.threads': must lie in 1..256",)),
    Case("D12 threads 10^6", lambda t, c: ["predict", _art(t, c, lambda d: d["runtime"].update(threads=10**6)), c["sample"]],
         ("key 'runtime.threads'",), absent=()),
    Case("TRT engine cache path from deploy.json",
         lambda t, c: ["bench", _art(t, c, lambda d: d["runtime"]["options"].update(engine_cache=str(t / "cache")))],
         ("key 'runtime.options'", "not a path"), absent=("cache", *NO_REPORT)),
    Case("D3 resize to 300000x300000", _bench(_image_resize), ("deploy.json: key 'preprocess': steps[0] (resize).size",)),
    Case("D3 unknown preprocess op",
         lambda t, c: ["predict", _art(t, c, lambda d: d["preprocess"]["steps"].append({"op": "sharpen"})), c["sample"]],
         ("deploy.json: key 'preprocess'", "'sharpen'"), absent=()),
    Case("D3 preprocess makes another shape than the model takes",
         _bench(lambda d: d["preprocess"]["steps"].insert(0, {"op": "reshape", "shape": [1, 64]})),
         ("deploy.json: key 'preprocess' makes samples of shape [1, 64], the model's input takes [1, 8, 8]",)),
    # --- MJ6: export ships only a recorded pipeline it checked and ran
    Case("MJ6 model.json preprocess with an unknown op",
         lambda t, c: ["export", _model_json(t, c, lambda d: d["preprocess"]["steps"].append({"op": "sharpen", "amount": 3})), *FP32],
         ("model.json: key 'preprocess'", "'sharpen'")),
    Case("MJ6 model.json preprocess not ending with its normalization",
         lambda t, c: ["export", _model_json(t, c, lambda d: d["preprocess"]["steps"].pop()), *FP32],
         ("model.json: key 'preprocess' does not end with the run's normalization",)),
    Case("MJ6 model.json preprocess for another kind of raw input",
         lambda t, c: ["export", _model_json(t, c, lambda d: d["preprocess"].update(input={"kind": "image", "channels": "RGB"})), *FP32],
         ("the run's key 'preprocess.input' takes", "pass the data set this run was trained on")),
    # --- D15: escape codes from a received file are shown escaped
    Case("D15 task name with terminal escapes", _bench(lambda d: d.update(task=ESCAPES)), ("unknown task '\\x1b]2;HACKED\\x07\\x1b[2J'",)),
    # --- reports: never over a user's file, refused before measuring
    Case("X6 --report names an existing file", lambda t, c: ["bench", c["artifact"], "--report", _file(t, "f.txt", b"mine")],
         ("cannot write the report under", "f.txt: it is a file, not a folder")),
    Case("BR --report beside a user's report.md",
         lambda t, c: ["bench", c["artifact"], "--report", (_file(t, "r.md", b"my notes") and t / "r.html")],
         ("r.md exists and is not part of an earlier edgekit report", "pass another --report"), absent=("r.html", "r.json")),
    # --- device messages
    Case("X7 --python /bin/false", lambda t, c: ["bench", c["artifact"], "--python", "/bin/false", "--report", t / "x" / "r.html"],
         ("the Python on local (/bin/false) exited with code 1 without a result", "check --python"), absent=()),
    Case("X9 --count-instructions on the local device", lambda t, c: ["bench", c["artifact"], "--count-instructions"],
         ("--count-instructions cannot count on 'local'", "emu:rpi4")),
    Case("X9 --count-instructions over ssh", lambda t, c: ["bench", c["artifact"], "--count-instructions", "--device", "ssh://127.0.0.1:1"],
         ("--count-instructions cannot count on 'ssh://127.0.0.1:1'",)),
]
# fmt: on


def _relabelled(c: dict) -> bytes:
    """D7's tampering: labels replaced by the reference's own answers (accuracy 1.0), sha256 left as exported."""
    import io

    with np.load(c["artifact"] / "eval.npz") as ev:
        data = {k: ev[k] for k in ev.files}
    data["y"] = data["reference"].argmax(1)
    buf = io.BytesIO()
    np.savez_compressed(buf, **data)
    return buf.getvalue()


def _eval_bomb(tmp: Path, c: dict) -> Path:
    """An eval.npz whose `raw` header declares 10^12 samples (a few bytes on disk): refused before any allocation."""
    import zipfile

    art = _eval(tmp, c)
    header = {"descr": "<f4", "fortran_order": False, "shape": (10**12, 1, 8, 8)}
    with np.load(art / "eval.npz") as ev:
        keep = {k: ev[k] for k in ev.files if k != "raw"}
    np.savez(art / "eval.npz", **keep)
    with zipfile.ZipFile(art / "eval.npz", "a") as z, z.open("raw.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(b"\0" * 64)
    d = json.loads((art / "deploy.json").read_text())
    d["eval"]["sha256"] = _sha(art / "eval.npz")
    (art / "deploy.json").write_text(json.dumps(d))
    return art


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_received_artifact_problems_are_one_line_and_nothing_runs(case, ctx, tmp_path, run_cli):
    args = [str(a) for a in case.make(tmp_path, ctx)]
    if args[0] == "bench":
        args += [*QUICK, "--target", str(ctx["lenient"])]
        if "--report" not in args:
            args += ["--report", str(tmp_path / "r.html")]
    if args[0] == "export" and "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    result = run_cli(*args)
    assert_one_line_error(result, *case.fragments, code=case.code)
    assert ESC not in result.err + result.out and "allow_pickle" not in result.err
    assert not (tmp_path / "pwned").exists()  # the marker a received file's code would write
    for rel in case.absent:
        assert not (tmp_path / rel).exists(), rel
    assert not (tmp_path / "reports").exists()


def test_ssh_client_missing_names_its_package(ctx, tmp_path, run_cli, monkeypatch):
    """SSH1: no ssh on PATH is a missing package, not a path to check."""
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    result = run_cli("bench", ctx["artifact"], *QUICK, "--device", "ssh://127.0.0.1", "--report", tmp_path / "r.html")
    assert_one_line_error(result, "the OpenSSH client (ssh) is not installed", "install the openssh-client package")
    assert not (tmp_path / "r.html").exists()


def test_predict_maps_generated_names_back_and_takes_dash_names(ctx, tmp_path, run_cli):
    """P-dash: a name starting with '-' is never a runner option; two inputs with one base name do not clash."""
    (tmp_path / "a").mkdir()
    dash, same = tmp_path / "-threads.npy", tmp_path / "a" / "s.npy"
    shutil.copy(ctx["sample"], dash)
    shutil.copy(ctx["sample"], same)
    result = run_cli("predict", ctx["artifact"], dash, same, ctx["sample"])
    assert result.code == 0, result.err
    assert "-threads.npy" in result.out and str(same) in result.out.replace("\n", "")


def test_python_api_predict_takes_one_path(ctx):
    """API1: ek.predict(art, "file") is that one file, not one file per character."""
    import edgekit as ek

    rows = ek.predict(ctx["artifact"], str(ctx["sample"]))
    assert len(rows) == 1 and rows[0]["file"] == str(ctx["sample"]) and rows[0]["label"] in ("class0", "class1", "class2")


def test_labels_with_escape_codes_are_shown_escaped(ctx, tmp_path, run_cli):
    """I8: a received deploy.json's labels reach the predict table escaped, never as terminal codes."""
    evil = "\x1b]2;OWNED\x07\x1b[2J\x1b[32mSAFE\x1b[0m"
    art = _art(tmp_path, ctx, lambda d: d.update(labels=[evil, evil, evil]))
    result = run_cli("predict", art, ctx["sample"])
    assert result.code == 0, result.err
    assert ESC not in result.out + result.err and "\x07" not in result.out
    assert "\\x1b]2;OWNED\\x07" in result.out


def test_the_default_report_never_lands_in_the_working_folder(ctx, tmp_path, run_cli, monkeypatch):
    """BR: `bench ..` from inside the artifact writes reports/<its name>/, and a user's report.md stays as it was."""
    art = _art(tmp_path, ctx)
    (art / "sub").mkdir()
    (art / "sub" / "report.md").write_text("my notes")
    monkeypatch.chdir(art / "sub")
    result = run_cli("bench", "..", *QUICK, "--target", ctx["lenient"])
    assert result.code == 0, result.err
    assert (art / "sub" / "report.md").read_text() == "my notes"
    assert json.loads((art / "sub" / "reports" / "art" / "report.json").read_text())["schema"] == "edgekit.report/2"
    again = run_cli("bench", "..", *QUICK, "--target", ctx["lenient"])  # an earlier edgekit report is replaced
    assert again.code == 0, again.err


def test_deploy_json_records_names_not_host_paths_and_hashes_its_eval_file(ctx):
    """deploy.json travels to boards and colleagues: no path of this machine; eval.npz is covered like the model."""
    text = (ctx["artifact"] / "deploy.json").read_text()
    d = json.loads(text)
    assert d["source"]["run"] == "run" and d["source"]["lineage"] == ["run"]
    assert str(ctx["run"].parent) not in text and d["eval"]["sha256"] == _sha(ctx["artifact"] / "eval.npz")


def test_export_runs_the_pipeline_model_json_records_not_a_rebuilt_one(ctx, tmp_path, run_cli):
    """MJ6: what deploy.json ships is what parity ran. A recorded first step that zeroes every input makes the
    model's outputs constant: export refuses it as degenerate, which it could only see by running that pipeline.
    A harmless extra step ships in deploy.json exactly as recorded."""
    zeroed = _model_json(tmp_path / "a", ctx, lambda d: d["preprocess"]["steps"].insert(0, {"op": "scale", "factor": 0.0}))
    assert_one_line_error(run_cli("export", zeroed, *FP32, "--out", tmp_path / "o1"), "hardly change across inputs")
    kept = _model_json(tmp_path / "b", ctx, lambda d: d["preprocess"]["steps"].insert(0, {"op": "scale", "factor": 1.0}))
    assert run_cli("export", kept, *FP32, "--out", tmp_path / "o2").code == 0
    shipped = json.loads((tmp_path / "o2" / "deploy.json").read_text())["preprocess"]
    assert shipped == json.loads((kept / "model.json").read_text())["preprocess"]


# ---------------------------------------------------------------- the runner's isolation itself
# Files that slip past every host check (a transport that adds them to the private folder) must still be inert:
# the runner imports only from code/, where the device package is.

SHADOWS = (
    "json.py",
    "quality.py",
    "runtimes.py",
    "preprocess.py",
    "integrity.py",
    "marker.py",
    "runner.py",
    "numpy.py",
    "sitecustomize.py",
    "edgekit_device.py",  # the device package's own name: code/ alone provides it
    "tasks.py",
)


def _injected(tmp: Path) -> dict:
    code = _marker_code(tmp)
    return {**{f"data/{n}": code for n in SHADOWS}, **{f"inputs/{n}": code for n in SHADOWS}, "json.py": code, "marker.py": code}


class _Injecting:
    """Mixed into a real transport: put() adds the injected files to what the harness sends."""

    def put(self, layout, remote_dir):
        super().put({**layout, **self.injected}, remote_dir)


class _LocalInjecting(_Injecting, LocalTransport):
    pass


class _SshInjecting(_Injecting, SshTransport):
    pass


def _prove_inert(transport, ctx, tmp: Path, *, bench: bool = True) -> None:
    transport.injected = _injected(tmp)
    deploy = load_deploy(ctx["artifact"] / "deploy.json")
    m = Measurement(min_queries=5, min_seconds=0, warmup=0, timeout=300)
    if bench:
        result = run_on_device(transport, ctx["artifact"], deploy, m)
        assert result["status"] == "ok" and result["eval_samples"] == 30
    predicted = run_on_device(transport, ctx["artifact"], deploy, m, inputs=[ctx["sample"]])
    assert [p["file"] for p in predicted["predictions"]] == [str(ctx["sample"])]
    assert not (tmp / "pwned").exists()


def test_files_named_like_code_in_the_device_folder_never_run_locally(ctx, tmp_path):
    _prove_inert(_LocalInjecting(), ctx, tmp_path)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    require_tool("sshd", "openssh-server", "/usr/sbin/sshd")
    require_tool("ssh", "openssh-client")
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


@pytest.mark.slow
def test_files_named_like_code_in_the_device_folder_never_run_over_ssh(ctx, sshd, tmp_path):
    t = _SshInjecting("127.0.0.1", sshd.user, sshd.port, sys.executable, str(sshd.client_config("good")))
    _prove_inert(t, ctx, tmp_path)


@pytest.mark.slow
def test_files_named_like_code_never_run_on_an_emulated_board(ctx, tmp_path):
    from edgekit.stages.bench.transports.emulated import EmulatedTransport

    emulated_board("rpi4")  # the cached board, built once (as tests/test_emulation.py does)

    class EmuInjecting(_Injecting, EmulatedTransport):
        pass

    _prove_inert(EmuInjecting("rpi4"), ctx, tmp_path, bench=False)  # one start under qemu: the runner imports all at once


def test_the_device_checks_the_eval_files_hash_too(ctx, tmp_path):
    """D7 on the device: an eval.npz swapped after the host's check is refused there, not scored."""
    transport = _LocalInjecting()
    transport.injected = {"data/eval.npz": _relabelled(ctx)}
    deploy = load_deploy(ctx["artifact"] / "deploy.json")
    with pytest.raises(RunFailed, match="sha256 of eval.npz differs from deploy.json"):
        run_on_device(transport, ctx["artifact"], deploy, Measurement(min_queries=5, min_seconds=0, warmup=0))


def test_a_runner_error_caused_by_a_received_file_names_it_and_the_fix(ctx, tmp_path):
    """A received file the device cannot use (here an eval.npz whose samples the preprocessing cannot take, sent
    after the host's check) is a bad input naming eval.npz with "re-export", not "check the runtime there"."""
    import io

    with np.load(ctx["artifact"] / "eval.npz") as ev:
        data = {k: ev[k] for k in ev.files}
    data["raw"] = np.zeros((30, 5), np.float32)
    buf = io.BytesIO()
    np.savez(buf, **data)
    d = json.loads((ctx["artifact"] / "deploy.json").read_text())
    d["eval"]["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    transport = _LocalInjecting()
    transport.injected = {"data/eval.npz": buf.getvalue(), "data/deploy.json": json.dumps(d).encode()}
    deploy = load_deploy(ctx["artifact"] / "deploy.json")
    with pytest.raises(RunFailed) as e:
        run_on_device(transport, ctx["artifact"], deploy, Measurement(min_queries=5, min_seconds=0, warmup=0))
    assert "eval.npz" in e.value.problem and "re-export" in e.value.fix and "runtime" not in e.value.fix
