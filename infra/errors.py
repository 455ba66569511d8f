"""The errors infra raises: all are `InfraError`, each carries what a user needs to fix it."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import RevosError


class InfraError(RevosError):
    """Starting, stopping or finding a local service failed."""

    code = "infra"


class HomeLockedError(InfraError):
    """Another live process holds the lock on this REVOS_HOME."""

    def __init__(self, home: Path, pid: int | None) -> None:
        holder = f" (pid {pid})" if pid is not None else ""
        super().__init__(
            f"another Revos stack is already running on REVOS_HOME={home}{holder}; "
            "stop it first or set REVOS_HOME to another directory"
        )
        self.home = home
        self.pid = pid


class PortInUseError(InfraError):
    """The port a service must listen on is taken by another process."""

    def __init__(self, service: str, port: int, env_var: str, holder: str | None) -> None:
        by = f" by {holder}" if holder else ""
        super().__init__(
            f"cannot start the embedded {service}: port {port} on 127.0.0.1 is already in use{by}; "
            f"stop that process or set {env_var} to a free port"
        )
        self.service = service
        self.port = port
        self.env_var = env_var
        self.holder = holder


class StartupError(InfraError):
    """A service did not become ready; the message quotes the tail of its log."""
