"""Secrets kept outside the database: a configured value, or a random key in a REVOS_HOME file (0600).

Losing such a file loses what it protects (the encrypted tool secrets, the audit chain's seal, the
embedded database's password): back it up, apart from the database's backups.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from pipeline.errors import ConfigurationError
from pipeline.settings import Settings

KEY_BYTES = 32
AUDIT_KEY_FILE = "audit.key"  # seals the audit chains
SECRETS_KEY_FILE = "secrets.key"  # encrypts the secrets tenants give us (tool signing secrets)


def read_key(path: Path) -> bytes:
    """The hex key held in `path`."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except ValueError as exc:
        raise ConfigurationError(f"{path} does not hold a hex key") from exc


def key_file(path: Path, size: int = KEY_BYTES) -> bytes:
    """The random key in `path`, created (mode 0600) on first use.

    Every process on the machine must use the same key, and two may start at once: the key is written
    whole to a private temporary file, then linked into place only if no file is there yet, so all of
    them end up reading the one that won."""
    if path.exists():
        return read_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(size) + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process linked its key first
            os.link(temporary, path)  # atomic, and never replaces an existing file
    finally:
        temporary.unlink(missing_ok=True)
    return read_key(path)


def configured_key(value: str | None, path: Path, *, setting: str, create: bool = True) -> bytes:
    """`value` (hex, from the REVOS_* variable `setting`) when given, else the key file at `path`
    (created on first use, unless `create` is False: then a missing file is an error)."""
    if not value:
        if not create and not path.exists():
            raise ConfigurationError(
                f"no key: set {setting}, restore {path} from its backup, or start the stack once to make it"
            )
        return key_file(path)
    try:
        key = bytes.fromhex(value.strip())
    except ValueError as exc:
        raise ConfigurationError(f"{setting} must be {KEY_BYTES} bytes in hex") from exc
    if len(key) != KEY_BYTES:
        raise ConfigurationError(f"{setting} must be {KEY_BYTES} bytes in hex ({2 * KEY_BYTES} digits)")
    return key


def audit_key(settings: Settings, *, create: bool = True) -> bytes:
    return configured_key(
        settings.audit_key, settings.home / AUDIT_KEY_FILE, setting="REVOS_AUDIT_KEY", create=create
    )


def secrets_key(settings: Settings) -> bytes:
    return configured_key(settings.secrets_key, settings.home / SECRETS_KEY_FILE, setting="REVOS_SECRETS_KEY")
