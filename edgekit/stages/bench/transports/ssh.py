"""ssh://[user@]host[:port]: a board reached with the system OpenSSH client."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from ....errors import EdgekitError
from .base import Completed, DeviceUnreachable, Transport, write_layout


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
            # The group; or, where Ctrl-C came between the shell writing .pgid and `timeout` making the group, the
            # shell itself (its exec is still to come). A shell not yet started finds its folder gone (remove()).
            kill = f"kill -TERM -- -$(cat {pgid}) 2>/dev/null || kill -TERM $(cat {pgid}) 2>/dev/null"
            try:
                self._ssh(f"test -f {pgid} && {{ {kill}; }}; true", timeout=self.connect_timeout + 20)
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


def parse(device: str, *, python: str | None = None, ssh_config: str | None = None) -> Transport:
    u = urlparse(device)
    if not device.startswith("ssh://") or not u.hostname:
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
