"""Build (once, cached) the arm64 root folder of an emulated board, from Debian's and PyPI's registries.

No chroot, no binfmt, no mounts: the arm64 .debs of Python 3.11 are unpacked with dpkg -x, the aarch64
wheels are installed with the host's pip, and qemu-aarch64-static -L runs the board's Python on it.
The build happens in a staging folder renamed into place only when complete, so an interrupted build is
never used: the next run starts over.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

from ..errors import EdgekitError
from ..util.cache import cache_root
from .boards import BOARDS, cpuinfo

READY = "ready.json"
DEB_ROOTS = ["python3.11", "libpython3.11-stdlib", "libstdc++6", "libgomp1"]
# Pulled in only through mime-support/perl; the runner never needs them.
DEB_SKIP = {
    "perl",
    "perl-base",
    "perl-modules-5.36",
    "libperl5.36",
    "dpkg",
    "tar",
    "install-info",
    "mailcap",
    "mime-support",
    "libdb5.3",
    "libgdbm-compat4",
}
WHEEL_TAGS = ["linux_aarch64", "manylinux2014_aarch64"] + [f"manylinux_2_{g}_aarch64" for g in (17, 24, 26, 27, 28, 31, 34, 35, 36)]


def _board(name: str):
    if name not in BOARDS:
        raise EdgekitError(f"unknown board '{name}'", f"emulated boards: {', '.join(BOARDS)}")
    return BOARDS[name]


def qemu_binary() -> str:
    path = shutil.which("qemu-aarch64-static")
    if not path:
        raise EdgekitError(
            "qemu-aarch64-static is not installed (needed to emulate an arm64 board)", "install it: sudo apt-get install qemu-user-static"
        )
    return path


def ready_rootfs(name: str) -> Path:
    board = _board(name)
    folder = cache_root() / "emu" / board.name
    if not (folder / READY).is_file():
        raise EdgekitError(f"the emulated {name} is not built yet", f"build it once: edgekit device emulate {name}")
    return folder


def _run(argv: list[str], what: str, cwd: Path | None = None) -> str:
    p = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise EdgekitError(f"{what} failed: {tail}", "check that Debian's and PyPI's registries are reachable, then retry")
    return p.stdout


def _debian_packages(work: Path, rootfs: Path, say) -> None:
    if not shutil.which("apt-get"):
        raise EdgekitError("building an emulated board needs Debian's apt-get", "run it on a Debian/Ubuntu machine")
    apt = work / "apt"
    for d in ("lists/partial", "cache/archives/partial"):
        (apt / d).mkdir(parents=True, exist_ok=True)
    (apt / "status").write_text("")  # an empty dpkg database: resolve as a pure arm64 system
    opts = [
        "-o",
        "APT::Architecture=arm64",
        "-o",
        "APT::Architectures=arm64",
        "-o",
        f"Dir::State::Lists={apt / 'lists'}",
        "-o",
        f"Dir::State::Status={apt / 'status'}",
        "-o",
        f"Dir::Cache={apt / 'cache'}",
        "-o",
        "Debug::NoLocking=1",
    ]
    say("apt-get update (arm64 package lists)")
    _run(["apt-get", *opts, "update", "-qq"], "apt-get update")
    out = _run(
        [
            "apt-cache",
            *opts,
            "depends",
            "--recurse",
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
            *DEB_ROOTS,
        ],
        "apt-cache depends",
    )
    pkgs = sorted({line.strip() for line in out.splitlines() if line[:1].isalnum() and not line.startswith(" ")} - DEB_SKIP)
    debs = work / "debs"
    debs.mkdir()
    say(f"downloading {len(pkgs)} arm64 Debian packages (Python 3.11 and its libraries)")
    _run(["apt-get", *opts, "download", *pkgs], "apt-get download", cwd=debs)
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg", "-x", str(deb), str(rootfs)], f"unpacking {deb.name}")
    (rootfs / "usr/bin/python3").unlink(missing_ok=True)
    (rootfs / "usr/bin/python3").symlink_to("python3.11")


def _pinned(dist: str) -> str:
    """The host's version, so the emulated board runs the same runtime release as the x86 check."""
    try:  # without a local label: the host's torch is 2.13.0+cpu, the aarch64 wheel on PyPI is 2.13.0
        return f"{dist}=={metadata.version(dist).split('+')[0]}"
    except metadata.PackageNotFoundError:
        return dist


# Runtimes in every emulated board: small, numpy-only on the device. tflite-micro ships no aarch64 wheel
# (microcontroller artifacts are checked on the host).
BASE_WHEELS = (("numpy", True), ("onnxruntime", True), ("ai-edge-litert", True), ("tflite-micro", False), ("ncnn", False))
# Opt-in (--with). ExecuTorch's Python runtime links torch, and for aarch64 PyPI holds only CUDA builds of the host's
# torch 2.13 (they need libcublasLt). The board gets torch 2.9.1, the newest aarch64 CPU wheel (104 MB), with the
# ExecuTorch release built against it: programs from the host's newer exporter load and run on it (fp32 and int8
# parity are checked by the export tests and benchmarks/runtimes.py). Both come without their declared
# dependencies (executorch names its exporters'); the runtime needs only the pure-Python imports listed.
# OpenVINO's aarch64 wheel (30 MB, manylinux_2_35) carries its ARM CPU plugin; the host's release. Its declared
# openvino-telemetry is left out: the runtime never needs it (without it nothing on the board reports usage).
OPTIONAL_WHEELS = {"executorch": ["torch==2.9.1", "executorch==1.0.1"], "openvino": ["openvino==2026.4.1"]}
PURE_DEPS = {
    "openvino": [],
    "executorch": [
        "filelock",
        "typing-extensions",
        "sympy",
        "networkx",
        "jinja2",
        "fsspec",
        "mpmath",
        "markupsafe",
        "flatbuffers",
        "packaging",
        "ruamel.yaml",
        "tabulate",
    ],
}
PROBES = {"executorch": "import executorch.runtime; ", "openvino": "import openvino; openvino.Core().available_devices; "}


def _pip(verb: str, common: list[str], *args: str) -> list[str]:
    """pip's argv for aarch64 cp311 wheels (`common` names the platform and ABI)."""
    return [sys.executable, "-m", "pip", verb, "-q", *common, *args]


def _download(wheels: Path, common: list[str], spec: str, *, deps: bool) -> bool:
    argv = _pip("download", common, *([] if deps else ["--no-deps"]), "-d", str(wheels), spec)
    return subprocess.run(argv, capture_output=True, text=True).returncode == 0


def _wheels(work: Path, rootfs: Path, say, extras: tuple[str, ...] = ()) -> list[str]:
    common = [
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--abi",
        "cp311",
        "--abi",
        "abi3",
        "--abi",
        "none",
        *[a for tag in WHEEL_TAGS for a in ("--platform", tag)],
    ]
    wheels, target = work / "wheels", rootfs / "opt/pyarm"
    base, extra = [], []
    for dist, required in BASE_WHEELS:
        spec = _pinned(dist)
        say(f"aarch64 wheel: {spec}")
        if _download(wheels, common, spec, deps=True):
            base.append(spec)
        elif required:
            raise EdgekitError(
                f"no aarch64 cp311 wheel of {spec}", "check PyPI is reachable, or install a version that ships aarch64 wheels on the host"
            )
    for e in extras:  # without their declared dependencies (see OPTIONAL_WHEELS), plus the pure-Python ones they import
        for spec in OPTIONAL_WHEELS[e] + PURE_DEPS[e]:
            say(f"aarch64 wheel: {spec}")
            if not _download(wheels / "extra", common, spec, deps=False):
                raise EdgekitError(f"no aarch64 cp311 wheel of {spec}", "check PyPI is reachable")
            extra.append(spec)
    into = ("--no-index", "--upgrade", "--target", str(target))
    _run(_pip("install", common, *into, "--find-links", str(wheels), *base), "pip install (aarch64 wheels)")
    if extra:
        files = [str(w) for w in sorted((wheels / "extra").glob("*.whl"))]
        _run(_pip("install", common, *into, "--no-deps", *files), "pip install (aarch64 wheels, --with)")
    return base + extra


def python_argv(folder: Path) -> list[str]:
    rootfs = folder / "rootfs"
    return [qemu_binary(), "-L", str(rootfs), str(rootfs / "usr/bin/python3.11")]


def python_env(folder: Path, board_name: str) -> dict:
    # QEMU_CPU must be passed explicitly: `env -i` and sshd sessions drop it.
    return {**os.environ, "QEMU_CPU": BOARDS[board_name].qemu_cpu, "PYTHONPATH": "/opt/pyarm", "PYTHONNOUSERSITE": "1"}


def built_with(folder: Path) -> set[str]:
    try:
        return set(json.loads((folder / READY).read_text()).get("extras", []))
    except (OSError, ValueError):
        return set()


def build_rootfs(name: str, *, rebuild: bool = False, say: Callable[[str], None] = print, extras: tuple[str, ...] = ()) -> Path:
    board = _board(name)
    qemu_binary()
    unknown = [e for e in extras if e not in OPTIONAL_WHEELS]
    if unknown:
        raise EdgekitError(f"unknown runtime to add: {', '.join(unknown)}", f"choose from {', '.join(OPTIONAL_WHEELS)}")
    final = cache_root() / "emu" / board.name
    if (final / READY).is_file() and not rebuild and set(extras) <= built_with(final):
        say(f"the emulated {name} is already built: {final}")
        return final
    extras = tuple(sorted(set(extras) | (built_with(final) if (final / READY).is_file() else set())))
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{board.name}.*.partial"):
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f".{board.name}.", suffix=".partial", dir=final.parent))
    try:
        rootfs = work / "rootfs"
        rootfs.mkdir()
        _debian_packages(work, rootfs, say)
        # qemu -L looks every path up in the root folder first: this file shadows the host's x86 cpuinfo,
        # which makes onnxruntime's cpuinfo crash under emulation.
        (rootfs / "proc").mkdir(exist_ok=True)
        (rootfs / "proc/cpuinfo").write_text(cpuinfo(board))
        wheels = _wheels(work, rootfs, say, extras)
        shutil.rmtree(work / "debs", ignore_errors=True)
        shutil.rmtree(work / "apt", ignore_errors=True)
        say("checking the emulated Python")
        imports = "".join(PROBES[e] for e in extras)
        probe = subprocess.run(
            [
                *python_argv(work),
                "-c",
                "import platform, numpy, onnxruntime; "
                f"from ai_edge_litert.interpreter import Interpreter; {imports}print(platform.machine())",
            ],
            capture_output=True,
            text=True,
            env=python_env(work, board.name),
            timeout=900,
        )
        if probe.returncode != 0 or probe.stdout.strip() != "aarch64":
            raise EdgekitError(
                f"the emulated {name} does not start: {(probe.stderr.strip().splitlines() or ['?'])[-1][:160]}",
                f"rebuild it: edgekit device emulate {name} --rebuild",
            )
        (work / READY).write_text(
            json.dumps(
                {
                    "board": board.name,
                    "qemu_cpu": board.qemu_cpu,
                    "wheels": wheels,
                    "extras": list(extras),
                    "debian": "bookworm",
                    "seconds": round(time.perf_counter() - started, 1),
                },
                indent=1,
            )
        )
        if final.exists():
            shutil.rmtree(final)
        os.replace(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    say(f"built the emulated {name} in {time.perf_counter() - started:.0f} s: {final}")
    return final
