"""Process-wide hooks: flush every live client at interpreter exit, reset them in a forked child."""

from __future__ import annotations

import atexit
import os
import threading
from typing import Protocol


class Managed(Protocol):
    """A client the hooks act on."""

    def _atexit(self) -> None: ...

    def _after_fork_in_child(self) -> None: ...


# Strong references on purpose: a client that went out of scope still has events to deliver at exit.
# close() removes it.
_clients: set[Managed] = set()
_installed = False
_install_lock = threading.Lock()


def register(client: Managed) -> None:
    """Act on `client` until it is closed; installs the hooks on first use, not at import."""
    global _installed
    with _install_lock:
        _clients.add(client)
        if not _installed:
            atexit.register(_on_exit)
            os.register_at_fork(after_in_child=_on_fork_child)
            _installed = True


def unregister(client: Managed) -> None:
    """Stop acting on `client` (it was closed explicitly)."""
    _clients.discard(client)


def _on_exit() -> None:
    for client in list(_clients):
        client._atexit()


def _on_fork_child() -> None:
    global _install_lock
    # A parent thread may have held this lock at fork time; the child must not inherit it held.
    _install_lock = threading.Lock()
    for client in list(_clients):
        client._after_fork_in_child()
