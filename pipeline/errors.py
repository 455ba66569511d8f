"""The root of every error Revos raises; `projections/retryable.py` classifies them retryable or fatal."""

from __future__ import annotations


class RevosError(Exception):
    """Root of the project's errors; `code` is stable and safe to show to API users."""

    code = "internal"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigurationError(RevosError):
    code = "configuration"


class DecodeError(RevosError):
    """Bytes that are not a record of any known schema."""

    code = "undecodable"


class EncodeError(RevosError):
    code = "unencodable"


class ValidationError(RevosError):
    """Input that breaks a domain rule; `field` names where, when known."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class UnpricedError(RevosError):
    code = "unpriced"


class TransientError(RevosError):
    """A failure that a later attempt may not meet (a service down, a timeout)."""

    code = "unavailable"
