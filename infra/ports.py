"""Local TCP ports: finding a free one, proving one is free before a service binds it, and who holds it."""

from __future__ import annotations

import contextlib
import socket

import psutil

from infra.errors import PortInUseError

HOST = "127.0.0.1"


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def ensure_free(port: int, *, service: str, env_var: str) -> None:
    """Raise `PortInUseError` naming `env_var` unless a server could bind 127.0.0.1:`port` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR, so a port left in TIME_WAIT is free for them; match them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            raise PortInUseError(service, port, env_var, describe_listener(port)) from None


def accepts(port: int, *, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def listener_pid(port: int) -> int | None:
    """The pid listening on `port` (any local address), when this user may see it."""
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return int(conn.pid)
    return None


def describe_listener(port: int) -> str | None:
    """'pid N (name)' for the process listening on `port`, or None when unknown."""
    pid = listener_pid(port)
    if pid is None:
        return None
    try:
        return f"pid {pid} ({psutil.Process(pid).name()})"
    except psutil.Error:
        return f"pid {pid}"
