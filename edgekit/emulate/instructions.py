"""Count the guest (ARM) instructions an emulated board executes: a load-independent cost figure.

Wall time under qemu says nothing about a board, and it moves with the host's load. The number of AArch64
instructions the board's Python executes does not: `insn_plugin.c` (a qemu TCG plugin, built here once and
cached) counts every instruction of every guest thread, and how many of them are SIMD/FP ("vector") ones,
and writes the running totals to a file each time the guest asks — so a runner can mark the start and the
end of a loop of N inferences and get instructions per inference = (total_end - total_start) / N.

Only the dynamic `qemu-aarch64` (Debian package qemu-user) loads plugins; edgekit's usual
`qemu-aarch64-static` cannot. The plugin is compiled against the `qemu-plugin.h` of exactly the installed
qemu version, taken from that version's Debian source package through a private apt source list (the
machine's /etc/apt is only read, never written).

Host side::

    plugin = build_plugin()
    folder = ready_rootfs("rpi4")
    argv = counting_argv(folder / "rootfs", plugin, outfile) + ["-m", "edgekit_device", "../data", ...]
    subprocess.run(argv, env=counting_env("rpi4"), cwd="code")   # the WHOLE environment: do not merge os.environ
    (s0, v0), (s1, v1) = read_counts(outfile)           # one (total, vector) per marker
    per_inference = (s1 - s0) / n

Guest side: the runner (stdlib + numpy only) runs ``exec(GUEST_MARKER_CODE, globals())`` — or embeds that
text verbatim — and calls ``mark(1)`` before and ``mark(2)`` after a fixed number of inferences. ``mark`` is
a plain no-op unless ``EDGEKIT_INSN_COUNT=1`` is set (counting_env sets it), so the same runner costs
nothing on a real board or in a plain emulated run. Time-bounded loops ("run for at least S seconds") give a
load-dependent N: mark around a fixed count of inferences.

Determinism: the counts depend only on the guest's execution path. counting_argv/counting_env fix what
would move it between runs — address-space randomisation (setarch -R), qemu's AT_RANDOM bytes (-seed),
Python's hash seed, bytecode caches written into the shared root folder (PYTHONDONTWRITEBYTECODE), the
environment itself (env -i equivalent), BLAS/OpenMP threads. Run the runtime at 1 thread: with several
threads the sum is still complete but the threads' spinning and work split depend on the host's scheduling.
What the guest itself sees must stay the same too: the working folder (code/, with `-m`) is on sys.path, so
its file names (Python lists it) and the length of its path shape the heap, and a heap laid out differently moves the
count of a loop by a few instructions per inference (alignment-dependent copies, hash probes). A fresh
mkdtemp folder with a fixed prefix and the same files gives identical counts; keep the outfile outside it.
The startup before the first marker is not reproducible to the instruction (numpy.random seeds itself from
the host's getrandom at import), which is why counts are taken between markers.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Callable, NamedTuple

from ..errors import EdgekitError
from ..util.cache import cache_root
from .boards import BOARDS, Board

PLUGIN_SOURCE = Path(__file__).with_name("insn_plugin.c")
QEMU = "qemu-aarch64"
HEADER = "include/qemu/qemu-plugin.h"
# The guest side is edgekit/device/marker.py (shipped in the device package); its constants are the protocol.
from ..device.marker import ENV_FLAG  # noqa: E402

# Defines mark(tag=0) in a guest script that cannot import edgekit: the marker module's own text.
GUEST_MARKER_CODE = (Path(__file__).resolve().parent.parent / "device" / "marker.py").read_text()


class Mark(NamedTuple):
    tag: int
    total: int  # all guest instructions executed so far, all threads
    vector: int  # the SIMD/FP data-processing ones among them
    vcpus: int  # guest threads that have run code so far


def _need(tool: str, package: str, why: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise EdgekitError(f"{tool} is not installed ({why})", f"install it: sudo apt-get install {package}")
    return path


def qemu_user_binary() -> str:
    return _need(QEMU, "qemu-user", "the dynamic qemu-user, the one that loads instruction-counting plugins")


def _qemu_package(qemu: str) -> tuple[str, str, str] | None:
    """(binary package version, source package, source version) of the installed qemu, if dpkg knows it."""
    if not shutil.which("dpkg-query"):
        return None
    owner = subprocess.run(["dpkg-query", "-S", os.path.realpath(qemu)], capture_output=True, text=True)
    if owner.returncode != 0 or ":" not in owner.stdout:
        return None
    package = owner.stdout.split(":", 1)[0].strip()
    p = subprocess.run(["dpkg-query", "-W", "-f=${Version}\t${source:Package}\t${source:Version}", package], capture_output=True, text=True)
    parts = p.stdout.strip().split("\t")
    return tuple(parts) if p.returncode == 0 and len(parts) == 3 and all(parts) else None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+_-]", "_", name)


def plugin_folder() -> Path:
    """<cache>/emu/plugin/<installed qemu-user version>: the header and the built plugin for that qemu."""
    qemu = qemu_user_binary()
    pkg = _qemu_package(qemu)
    if pkg:
        key = pkg[0]
    else:
        out = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout
        key = (out.splitlines() or ["unknown"])[0].replace("qemu-aarch64 version ", "")
    return cache_root() / "emu" / "plugin" / _safe(key)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# -- the header: from the installed version's Debian source package, through a private source list --------


def _system_deb_entries() -> list[dict]:
    """The machine's enabled `deb` entries (read only), as deb822 fields for a private deb-src list."""
    entries = []
    etc = Path("/etc/apt")
    one_line = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]
    for f in one_line:
        try:
            lines = f.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.split("#", 1)[0].strip()
            m = re.match(r"deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
            if not m:
                continue
            fields = {"URIs": m.group(2), "Suites": m.group(3), "Components": m.group(4).strip()}
            for opt in (m.group(1) or "").split():
                k, _, v = opt.partition("=")
                if k == "signed-by":
                    fields["Signed-By"] = v
                elif k == "trusted":
                    fields["Trusted"] = v
            entries.append(fields)
    for f in sorted((etc / "sources.list.d").glob("*.sources")):
        try:
            text = f.read_text(errors="replace")
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            fields, key = {}, None
            for line in stanza.splitlines():
                if line.startswith("#"):
                    continue
                if line[:1] in (" ", "\t") and key:  # a continuation line (e.g. an inline Signed-By key)
                    fields[key] += "\n" + line
                elif ":" in line:
                    key, _, value = line.partition(":")
                    key = key.strip()
                    fields[key] = value.strip()
            if "deb" in fields.get("Types", "").split() and fields.get("Enabled", "yes").lower() != "no":
                fields.pop("Types")
                fields.pop("Enabled", None)
                entries.append(fields)
    return [e for e in entries if e.get("URIs") and e.get("Suites")]


def _apt(opts: list[str], args: list[str], what: str, cwd: Path | None = None) -> None:
    p = subprocess.run(["apt-get", *opts, *args], capture_output=True, text=True, cwd=cwd)
    if p.returncode != 0:
        tail = ([ln for ln in p.stderr.strip().splitlines() if not ln.startswith("W:")] or ["no output"])[-1][:200]
        fix = (
            "check that the Debian/Ubuntu registry in /etc/apt is reachable, then retry; if the installed qemu-user "
            "is no longer in the archive, upgrade it first: sudo apt-get install --only-upgrade qemu-user"
        )
        raise EdgekitError(f"{what} failed: {tail}", fix)


def _header_from_sources(sources: list[Path]) -> bytes | None:
    for tarball in sources:
        with tarfile.open(tarball, "r:*") as tar:
            for member in tar:
                if member.isfile() and (member.name == HEADER or member.name.endswith("/" + HEADER)):
                    return tar.extractfile(member).read()
    return None


def _patched_by_debian(debian_tarball: Path | None) -> bool:
    if not debian_tarball:
        return False
    with tarfile.open(debian_tarball, "r:*") as tar:
        for member in tar:
            if member.isfile() and "/patches/" in f"/{member.name}" and HEADER.encode() in tar.extractfile(member).read():
                return True
    return False


def _fetch_header(work: Path, say) -> bytes:
    qemu = qemu_user_binary()
    pkg = _qemu_package(qemu)
    if not pkg:
        raise EdgekitError(
            f"{qemu} is not from a Debian package, so its plugin header cannot be fetched",
            "install Debian's: sudo apt-get install qemu-user",
        )
    if not shutil.which("apt-get"):
        raise EdgekitError("fetching qemu's plugin header needs apt-get (apt source access)", "run it on a Debian/Ubuntu machine")
    _, source, version = pkg
    entries = _system_deb_entries()
    if not entries:
        raise EdgekitError(
            "no enabled `deb` entry in /etc/apt to derive a deb-src source list from",
            "configure the Debian/Ubuntu registry in /etc/apt/sources.list.d/, then retry",
        )
    apt = work / "apt"
    (apt / "lists" / "partial").mkdir(parents=True)
    (apt / "cache" / "archives" / "partial").mkdir(parents=True)
    listing = apt / "deb-src.sources"  # deb822, so inline Signed-By keys carry over as they are
    listing.write_text("\n\n".join("Types: deb-src\n" + "\n".join(f"{k}: {v}" for k, v in e.items()) for e in entries) + "\n")
    opts = [
        "-q",
        "-o",
        f"Dir::Etc::SourceList={listing}",
        "-o",
        "Dir::Etc::SourceParts=/dev/null",
        "-o",
        f"Dir::State::Lists={apt / 'lists'}",
        "-o",
        f"Dir::Cache={apt / 'cache'}",
        "-o",
        "Debug::NoLocking=1",
    ]
    if os.geteuid() == 0:
        opts += ["-o", "APT::Sandbox::User=root"]  # the private folders are not readable by _apt
    say(f"apt-get update (deb-src lists, private: {listing.name})")
    _apt(opts, ["update"], "apt-get update (deb-src lists)")
    download = work / "src"
    download.mkdir()
    say(f"apt-get source --download-only {source}={version}")
    _apt(opts, ["source", "--download-only", f"{source}={version}"], f"apt-get source {source}={version}", cwd=download)
    debian = next(iter(sorted(download.glob("*.debian.tar.*"))), None)
    if _patched_by_debian(debian):
        # Debian changes the header: unpack the whole package with its patches applied.
        dsc = next(iter(sorted(download.glob("*.dsc"))), None)
        dpkg_source = _need("dpkg-source", "dpkg-dev", "to unpack qemu's patched source")
        say("dpkg-source -x (Debian patches the plugin header)")
        p = subprocess.run([dpkg_source, "--no-check", "-x", str(dsc), str(work / "tree")], capture_output=True, text=True)
        if p.returncode != 0 or not (work / "tree" / HEADER).is_file():
            tail = (p.stderr.strip().splitlines() or ["?"])[-1][:160]
            raise EdgekitError(
                f"dpkg-source -x {dsc.name if dsc else '?'} failed: {tail}", "install dpkg-dev (sudo apt-get install dpkg-dev), then retry"
            )
        return (work / "tree" / HEADER).read_bytes()
    say(f"extracting {HEADER}")
    tarballs = [t for t in sorted(download.glob("*.tar.*")) if ".debian.tar." not in t.name]
    data = _header_from_sources(tarballs)
    if data is None:
        raise EdgekitError(
            f"{source} {version}'s source holds no {HEADER} (a qemu without the plugin API?)", "install a qemu-user of version 4.2 or newer"
        )
    return data


def plugin_header(*, say: Callable[[str], None] = print) -> Path:
    """The installed qemu's qemu-plugin.h, fetched once and cached beside the plugin."""
    folder = plugin_folder()
    header = folder / "include" / "qemu-plugin.h"
    if header.is_file():
        return header
    header.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".header.", suffix=".partial", dir=folder))
    try:
        _write_atomic(header, _fetch_header(work, say))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return header


# -- the plugin ---------------------------------------------------------------------------------------------


def build_plugin(say: Callable[[str], None] = print) -> Path:
    """The instruction-counting plugin for the installed qemu-aarch64: built once (seconds), then cached at
    <cache>/emu/plugin/<qemu-user version>/insn-<source hash>.so. Editing insn_plugin.c rebuilds it."""
    qemu_user_binary()
    gcc = _need("gcc", "gcc", "to compile the instruction-counting plugin")
    source = PLUGIN_SOURCE.read_bytes()
    folder = plugin_folder()
    plugin = folder / f"insn-{hashlib.sha256(source).hexdigest()[:12]}.so"
    if plugin.is_file():
        return plugin
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".*.partial"):  # what an interrupted build left
        if time.time() - stale.stat().st_mtime > 3600:
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
    started = time.perf_counter()
    header = plugin_header(say=say)
    cflags = []
    if b"<glib.h>" in header.read_bytes():  # newer qemu (8.x+) headers use glib types; 7.2's does not
        pkg_config = _need("pkg-config", "pkg-config libglib2.0-dev", "to find glib's headers for qemu-plugin.h")
        p = subprocess.run([pkg_config, "--cflags", "glib-2.0"], capture_output=True, text=True)
        if p.returncode != 0:
            raise EdgekitError(
                "glib's development headers are not installed (qemu-plugin.h needs them)",
                "install them: sudo apt-get install libglib2.0-dev",
            )
        cflags = p.stdout.split()
    work = Path(tempfile.mkdtemp(prefix=".build.", suffix=".partial", dir=folder))
    try:
        shutil.copy2(PLUGIN_SOURCE, work / PLUGIN_SOURCE.name)
        say(f"compiling {PLUGIN_SOURCE.name}")
        p = subprocess.run(
            [gcc, "-O2", "-shared", "-fPIC", f"-I{header.parent}", *cflags, str(work / PLUGIN_SOURCE.name), "-o", str(work / "insn.so")],
            capture_output=True,
            text=True,
        )
        if p.returncode != 0:
            tail = ([ln for ln in p.stderr.splitlines() if "error" in ln] or p.stderr.strip().splitlines() or ["?"])[-1][:200]
            raise EdgekitError(
                f"compiling the instruction-counting plugin failed: {tail}",
                f"check that gcc works and that the installed qemu-user matches its cached header; delete {folder} to refetch it",
            )
        os.replace(work / "insn.so", plugin)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"built the instruction-counting plugin in {time.perf_counter() - started:.1f} s: {plugin}")
    return plugin


# -- running under it ---------------------------------------------------------------------------------------


def _rootfs(path: Path) -> Path:
    """Accept the root folder itself or the board folder above it (what ready_rootfs returns)."""
    path = Path(path)
    return path / "rootfs" if not (path / "usr").is_dir() and (path / "rootfs" / "usr").is_dir() else path


def counting_argv(rootfs: Path, plugin: Path, outfile: Path) -> list[str]:
    """Run the emulated board's Python 3.11 under qemu-aarch64 with the counting plugin, without address-space
    randomisation. Append the script and its arguments; pass env=counting_env(board) as the whole environment."""
    rootfs = _rootfs(rootfs)
    setarch = _need("setarch", "util-linux", "to turn off address-space randomisation")
    option = str(Path(outfile).resolve()).replace(",", ",,")  # qemu's option syntax doubles literal commas
    plugin_opt = str(Path(plugin).resolve()).replace(",", ",,")
    return [
        setarch,
        platform.machine(),
        "-R",
        qemu_user_binary(),
        "-seed",
        "1",
        "-plugin",
        f"{plugin_opt},outfile={option}",
        "-L",
        str(rootfs),
        str(rootfs / "usr/bin/python3.11"),
    ]


def counting_env(board: str | Board) -> dict:
    """The complete, clean environment of a counting run (the `env -i` of it): use it as is, never merged."""
    b = board if isinstance(board, Board) else BOARDS.get(board)
    if b is None:
        raise EdgekitError(f"unknown board '{board}'", f"emulated boards: {', '.join(BOARDS)}")
    return {
        "PATH": "/usr/bin:/bin",
        "QEMU_CPU": b.qemu_cpu,  # env -i drops QEMU_CPU: always explicit
        "PYTHONPATH": "/opt/pyarm",
        "PYTHONNOUSERSITE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        ENV_FLAG: "1",
    }


def read_marks(outfile: Path) -> list[Mark]:
    """Every marker line of a counting run, in order (the '#' header and exit lines are skipped)."""
    marks = []
    for line in Path(outfile).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            fields = [int(x) for x in line.split()]
            marks.append(Mark(fields[0], fields[1], fields[2], fields[3] if len(fields) > 3 else 0))
    return marks


def read_counts(outfile: Path) -> list[tuple[int, int]]:
    """(total, vector) running instruction counts, one pair per marker the guest made."""
    return [(m.total, m.vector) for m in read_marks(outfile)]


def run_counted(
    board: str, args: list[str], outfile: Path, *, cwd: Path | None = None, timeout: float = 600, say: Callable[[str], None] = print
) -> tuple[subprocess.CompletedProcess, list[Mark]]:
    """Run `python3.11 ARGS...` on the emulated board under the counter; return the process and its markers."""
    from .rootfs import ready_rootfs

    argv = counting_argv(ready_rootfs(board) / "rootfs", build_plugin(say=say), outfile) + [str(a) for a in args]
    p = subprocess.run(argv, env=counting_env(board), capture_output=True, text=True, cwd=cwd, timeout=timeout)
    return p, (read_marks(outfile) if Path(outfile).is_file() else [])
