"""The domain allowlist that decides which sites may embed an assistant: its entries' rule (`domain`),
the Origin check (`origin_allowed`) and the CSP `frame-ancestors` it yields (`frame_ancestors`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from pipeline import assistant_fields as fields

MAX_DOMAINS = 50

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_WILDCARD = re.compile(rf"\*\.{_LABEL}(\.{_LABEL})+")  # `*.com` would hand a whole TLD to anyone
_MAX_HOST = 253


def domain(raw: object, at: str = "allowed_domains") -> str:
    """One allowlist entry: a host name or `*.` + a host name, lowercased; no scheme, port or path."""
    if not isinstance(raw, str) or not raw:
        raise fields.fail("allowed_domains", f"{at} must be a non-empty string", at=at)
    entry = raw.strip().lower()
    if len(entry) > _MAX_HOST or not (_HOST.fullmatch(entry) or _WILDCARD.fullmatch(entry)):
        raise fields.fail(
            "allowed_domains",
            f"{at} must be a host name such as shop.example.com or a wildcard such as *.example.com "
            f"(no scheme, port or path): {raw!r}",
            at=at,
        )
    return entry


def domains(raw: object) -> tuple[str, ...]:
    """The `allowed_domains` list from the API: each entry checked by `domain`, duplicates dropped."""
    items = fields.array(raw, "allowed_domains", most=MAX_DOMAINS)
    entries = (domain(d, f"allowed_domains[{i}]") for i, d in enumerate(items))
    return tuple(dict.fromkeys(entries))  # deduplicated, first mention kept


def _matches(host: str, entry: str) -> tuple[bool, bool]:
    """(exact, wildcard): whether `host` is the entry itself, or a subdomain of a `*.` entry."""
    entry = entry.lower()
    if entry.startswith("*."):
        return False, host.endswith(entry[1:]) and len(host) > len(entry) - 1
    return host == entry, False


def origin_allowed(origin: str | None, allowed_domains: Sequence[str]) -> bool:
    """Whether a page at `origin` (an Origin header: scheme://host[:port]) may use the assistant.

    The host must match an entry (any port); https always, plain http only for hosts the list names
    exactly (localhost and 127.0.0.1 in local development, tests). `null` and anything that is not a bare origin is refused.
    """
    if not origin or origin == "null":
        return False
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or parts.path or parts.query or parts.fragment:
        return False
    host = parts.hostname
    if not host or parts.username is not None or parts.password is not None:
        return False
    exact = wildcard = False
    for entry in allowed_domains:
        e, w = _matches(host, entry)
        exact, wildcard = exact or e, wildcard or w
    return exact or (wildcard and parts.scheme == "https")


def frame_ancestors(allowed_domains: Sequence[str]) -> str:
    """The CSP `frame-ancestors` source list for the allowlist, or `'none'` when it is empty.

    Sources carry `:*` because the allowlist does not restrict ports (a source without a port would
    only match the scheme's default port, breaking http://localhost:8000 pages).
    """
    sources: list[str] = []
    for raw in allowed_domains:
        entry = raw.strip().lower()
        if len(entry) > _MAX_HOST:
            continue
        if _WILDCARD.fullmatch(entry):
            sources.append(f"https://{entry}:*")
        elif _HOST.fullmatch(entry):  # entries that are not valid hosts cannot reach a CSP header
            sources += [f"https://{entry}:*", f"http://{entry}:*"]
    return " ".join(dict.fromkeys(sources)) or "'none'"
