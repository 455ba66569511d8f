"""The running Revos version, recorded in every dead letter."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    APP_VERSION = version("revos")
except PackageNotFoundError:  # running from a source tree that was never installed
    APP_VERSION = "0+unknown"
