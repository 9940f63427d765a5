"""Where everything of the lab lives under its prefix (pure path arithmetic, one place)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MARKER = ".ascend-env-lab"


@dataclass(frozen=True)
class HostPaths:
    base: Path

    @property
    def root(self) -> Path:
        """The simulated host's filesystem view: ``root/usr/local/Ascend`` is its ``/usr/local/Ascend``."""
        return self.base / "root"

    @property
    def ascend(self) -> Path:
        return self.root / "usr/local/Ascend"

    @property
    def driver(self) -> Path:
        return self.ascend / "driver"

    @property
    def driver_lib(self) -> Path:
        return self.driver / "lib64/driver"

    @property
    def dev(self) -> Path:
        return self.root / "dev"

    @property
    def docker_data(self) -> Path:
        return self.base / "docker"

    @property
    def run(self) -> Path:
        return self.base / "run"

    @property
    def docker_sock(self) -> Path:
        return self.run / "docker.sock"

    @property
    def dockerd_pid(self) -> Path:
        return self.run / "dockerd.pid"

    @property
    def sshd_dir(self) -> Path:
        return self.base / "sshd"

    @property
    def sshd_pid(self) -> Path:
        return self.run / "sshd.pid"

    @property
    def logs(self) -> Path:
        return self.base / "log"


@dataclass(frozen=True)
class LabPaths:
    prefix: Path
    cache: Path

    def host(self, name: str) -> HostPaths:
        return HostPaths(self.prefix / "hosts" / name)

    @property
    def marker(self) -> Path:
        return self.prefix / MARKER

    @property
    def state(self) -> Path:
        return self.prefix / "state.json"

    @property
    def ssh(self) -> Path:
        return self.prefix / "ssh"

    @property
    def client_key(self) -> Path:
        return self.ssh / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.ssh / "config"

    @property
    def store(self) -> Path:
        """The offline artefact store the roles install from: runs/, wheels/, images/."""
        return self.prefix / "store"

    @property
    def inventory(self) -> Path:
        return self.prefix / "inventory" / "hosts.yml"
