"""A real OpenSSH server on 127.0.0.1 for the SSH device tests: generated host and client keys, a private
config, strict host-key checking on the client side (as edgekit users run it)."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@dataclass
class SshServer:
    port: int
    user: str
    folder: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}"

    def client_config(self, name: str, *, key: str = "client", known_hosts: bool = True) -> Path:
        kh = self.folder / ("known_hosts" if known_hosts else "known_hosts.empty")
        kh.touch()
        path = self.folder / f"{name}.ssh_config"
        path.write_text(
            f"Host 127.0.0.1\n  IdentityFile {self.folder / key}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {kh}\n  StrictHostKeyChecking yes\n  GlobalKnownHostsFile /dev/null\n"
        )
        return path


def start_sshd(folder: Path) -> SshServer:
    folder.mkdir(parents=True, exist_ok=True)
    host_pub = _keygen(folder / "host_key")
    client_pub = _keygen(folder / "client")
    _keygen(folder / "stranger")  # a key the server does not know
    (folder / "authorized_keys").write_text(client_pub + "\n")
    os.chmod(folder / "authorized_keys", 0o600)
    port = _free_port()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub}\n")
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"PubkeyAuthentication yes\nStrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
        f"Subsystem sftp internal-sftp\nLogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege-separation folder
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=open(folder / "sshd.log", "w"))
    deadline = time.time() + 15
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {(folder / 'sshd.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    return SshServer(port=port, user=getpass.getuser(), folder=folder, process=proc)
