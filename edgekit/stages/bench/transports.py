"""How the harness reaches a device. Local and SSH (and emulated boards) share one protocol — make a private
folder, copy a tree of files in (relative path → local file or bytes), run a command, remove the folder — so every
device runs the same code path."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from ...errors import EdgekitError


class DeviceUnreachable(EdgekitError):
    """The device itself cannot be used (no route, refused key, unknown host key): no artifact can run there."""


# What put() copies: a relative POSIX path inside the private folder → the local file, or the bytes, to put there.
Layout = dict[str, "Path | bytes"]


def _checked(rel: str) -> str:
    """Layout paths are edgekit's own (fixed names, validated plain names, generated names): never absolute or up."""
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad layout path {rel!r}")
    return rel


def write_layout(layout: Layout, root: Path) -> None:
    """Lay `layout` out under `root` as copies: the private folder of a local device, or the tree scp sends."""
    for rel, src in layout.items():
        dst = Path(root) / _checked(rel)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, bytes):
            dst.write_bytes(src)
        else:
            shutil.copyfile(src, dst)


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


class Transport:
    name: str
    python: str  # how the device's Python is named in messages (and run, unless python_argv says otherwise)
    caveat: str | None = None
    on_target: bool = False  # True when latency and memory measured here are the target's own

    def is_target(self, target) -> bool:
        """Whether figures measured through this transport are the target's (budgets apply)."""
        return self.on_target

    @property
    def python_argv(self) -> list[str]:
        return [self.python]

    def install_hint(self, package: str) -> str:
        return f"install it there: {self.python} -m pip install {package}"

    def mkdtemp(self) -> str: ...
    def put(self, layout: Layout, remote_dir: str) -> None: ...
    def run(self, argv: list[str], timeout: float, cwd: str | None = None) -> Completed: ...
    def stop(self, remote_dir: str) -> None:
        """Stop what run() started there (Ctrl-C): local children die with subprocess.run."""

    def annotate(self, result: dict) -> dict:
        """Add what the transport itself measured (an emulated board's instruction counts)."""
        return result

    def remove(self, remote_dir: str) -> None: ...


class LocalTransport(Transport):
    """This machine, through the same copy-run-clean cycle as a board."""

    def __init__(self, python: str | None = None, env: dict | None = None):
        self.name = "local"
        self.python = python or sys.executable
        self.env = env

    def is_target(self, target) -> bool:
        return target.is_host()

    def mkdtemp(self) -> str:
        return tempfile.mkdtemp(prefix="edgekit-bench.")

    def put(self, layout, remote_dir):
        write_layout(layout, Path(remote_dir))

    def run(self, argv, timeout, cwd=None):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=self.env, cwd=cwd)
        except subprocess.TimeoutExpired:
            raise TimeoutError from None
        return Completed(p.returncode, p.stdout, p.stderr)

    def remove(self, remote_dir):
        shutil.rmtree(remote_dir, ignore_errors=True)


@dataclass
class SshTransport(Transport):
    """The system OpenSSH client, so ~/.ssh/config, keys, the agent, ProxyJump and known_hosts all apply.
    BatchMode makes a missing key or an unknown host key fail at once instead of prompting."""

    host: str
    user: str | None = None
    port: int | None = None
    python: str = "python3"
    ssh_config: str | None = None
    connect_timeout: int = 10
    name: str = field(init=False)
    on_target: bool = True  # the user named the board: what is measured there is the board's

    def __post_init__(self):
        self.name = f"ssh://{self.destination}" + (f":{self.port}" if self.port else "")

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def _common(self) -> list[str]:
        # StrictHostKeyChecking=yes over any config: only hosts already in known_hosts (a pipeline file is data,
        # and its ssh:// device must not reach a host the user never connected to)
        opts = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"ConnectTimeout={self.connect_timeout}"]
        opts += ["-o", "ServerAliveInterval=5"]
        return (["-F", self.ssh_config] if self.ssh_config else []) + opts

    def _ssh(self, command: str, timeout: float) -> Completed:
        # `--` ends ssh's options: nothing in the destination can be read as one.
        argv = ["ssh", *self._common(), *(["-p", str(self.port)] if self.port else []), "--", self.destination, command]
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise TimeoutError from None
        except FileNotFoundError:
            raise openssh_missing("ssh") from None
        if p.returncode == 255:
            raise ssh_error(self, p.stderr)
        return Completed(p.returncode, p.stdout, p.stderr)

    def mkdtemp(self) -> str:
        p = self._ssh("mktemp -d /tmp/edgekit-bench.XXXXXX", timeout=self.connect_timeout + 20)
        if p.returncode != 0 or not p.stdout.strip():
            raise EdgekitError(f"cannot make a folder on {self.name}: {p.stderr.strip()[:120]}", "check /tmp is writable there")
        return p.stdout.strip()

    def put(self, layout, remote_dir):
        # One scp of a staged tree: its top folders (code/, data/, ...) land inside the private folder as they are.
        with tempfile.TemporaryDirectory(prefix="edgekit-stage.") as stage:
            write_layout(layout, Path(stage))
            tops = sorted(str(p) for p in Path(stage).iterdir())
            argv = ["scp", "-q", "-r", *self._common(), *(["-P", str(self.port)] if self.port else []), "--", *tops]
            argv.append(f"{self.destination}:{remote_dir}/")
            try:
                p = subprocess.run(argv, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
            except FileNotFoundError:
                raise openssh_missing("scp") from None
        if p.returncode != 0:
            raise ssh_error(self, p.stderr)

    def run(self, argv, timeout, cwd=None):
        # coreutils `timeout` ends the remote process even if the connection drops; it runs in a process group of
        # its own (setpgid), whose id the shell records first (`exec` keeps the pid), so stop() can end it all.
        where = f"cd {shlex.quote(cwd)} && echo $$ > .pgid && " if cwd else ""
        command = f"{where}exec timeout -k 5 {int(timeout)} " + shlex.join(argv)
        return self._ssh(command, timeout=timeout + 15)

    def stop(self, remote_dir):
        if remote_dir.startswith("/tmp/edgekit-bench."):
            pgid = f"{shlex.quote(remote_dir)}/.pgid"
            try:
                self._ssh(f"test -f {pgid} && kill -TERM -- -$(cat {pgid}) 2>/dev/null; true", timeout=self.connect_timeout + 20)
            except (EdgekitError, TimeoutError):
                pass

    def remove(self, remote_dir):
        if remote_dir.startswith("/tmp/edgekit-bench."):  # never anything else
            try:
                self._ssh(f"rm -rf {shlex.quote(remote_dir)}", timeout=self.connect_timeout + 20)
            except (EdgekitError, TimeoutError):
                pass


def openssh_missing(program: str) -> EdgekitError:
    return DeviceUnreachable(f"the OpenSSH client ({program}) is not installed", "install the openssh-client package")


def ssh_error(t: SshTransport, stderr: str) -> EdgekitError:
    text = stderr.strip().splitlines()[-1] if stderr.strip() else "ssh failed"
    low = stderr.lower()
    if "permission denied" in low:
        return DeviceUnreachable(
            f"{t.name} refused the ssh key ({text})",
            "install your public key on the device (ssh-copy-id) or set IdentityFile in ~/.ssh/config",
        )
    if "host key verification failed" in low or "host key" in low:
        return DeviceUnreachable(
            f"{t.name}: host key not known or changed ({text})",
            f"connect once with `ssh {t.destination}` and check the key; edgekit never skips this check",
        )
    return DeviceUnreachable(f"cannot reach {t.name}: {text}", "check the address, the port and that sshd runs on the device")


def _check_ssh_part(value: str | None, what: str, device: str) -> None:
    """A user or host that could be read as an ssh option, or that holds whitespace/control characters, is refused."""
    if value is None:
        return
    if not value or value.startswith("-") or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise EdgekitError(
            f"bad {what} in device '{device}'",
            f"write ssh://[user@]host[:port]; a {what} may not start with '-' or hold spaces or control characters",
        )


def parse_device(device: str, *, python: str | None = None, ssh_config: str | None = None, count_instructions: bool = False) -> Transport:
    if count_instructions and not device.startswith("emu:"):
        # only edgekit's qemu plugin counts instructions: elsewhere the flag would be silently ignored
        raise EdgekitError(f"--count-instructions cannot count on '{device}'", "use --device emu:rpi4 or emu:rpi5, or drop the flag")
    if device == "local":
        return LocalTransport(python)
    if device.startswith("ssh://"):
        u = urlparse(device)
        if not u.hostname:
            raise EdgekitError(f"bad device '{device}'", "write ssh://[user@]host[:port]")
        try:
            port = u.port
        except ValueError:
            raise EdgekitError(f"bad port in '{device}'", "write ssh://[user@]host[:port]") from None
        user, host = (unquote(u.username) if u.username else None), unquote(u.hostname)
        _check_ssh_part(user, "user", device)
        _check_ssh_part(host, "host", device)
        for program in ("ssh", "scp"):
            if not shutil.which(program):
                raise openssh_missing(program)
        return SshTransport(host, user, port, python or "python3", ssh_config or os.environ.get("EDGEKIT_SSH_CONFIG"))
    if device.startswith("emu:"):
        from .emulated import EmulatedTransport

        return EmulatedTransport(device[4:], count_instructions=count_instructions)
    raise EdgekitError(f"unknown device '{device}'", "use local, ssh://[user@]host[:port] or emu:rpi4 / emu:rpi5")
