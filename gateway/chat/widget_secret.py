"""The key widget session tokens are signed with: REVOS_WIDGET_SECRET, or one kept in REVOS_HOME."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from pipeline.errors import ConfigurationError
from pipeline.settings import Settings, check_widget_secret

FILE_NAME = "widget.secret"


def _read(path: Path) -> bytes:
    try:
        return bytes.fromhex(path.read_text().strip())
    except ValueError as exc:
        raise ConfigurationError(f"{path} does not hold a hex secret; delete it to make a new one") from exc


def widget_secret(settings: Settings) -> bytes:
    """The configured secret, or the random one in `home/widget.secret`, created on first use.

    Every gateway process on the machine must sign with the same key, and two may start at once: the
    secret is written whole to a private temporary file, then linked into place only if no file is
    there yet, so all of them end up reading the one that won."""
    configured = check_widget_secret(settings.widget_secret)
    if configured:
        return configured.encode()
    path = settings.home / FILE_NAME
    if path.exists():
        return _read(path)
    settings.home.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process linked its secret first
            os.link(temporary, path)  # atomic, and never replaces an existing file
    finally:
        temporary.unlink(missing_ok=True)
    return _read(path)
