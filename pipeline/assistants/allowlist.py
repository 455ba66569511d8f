"""The domain allowlist that decides which sites may embed an assistant: its entries' rule (`domain`),
the Origin check (`origin_allowed`) and the CSP `frame-ancestors` it yields (`frame_ancestors`).

An entry is a host (`shop.example.com`: https only), `http://` + a host (plain http too), or `*.` + a
host (any subdomain, https only). `localhost` and `127.0.0.1` allow plain http as they are. A wildcard
over a public suffix (`*.co.uk`, `*.github.io`) is refused: anyone can register a site under one. The
Public Suffix List is the snapshot bundled with the `publicsuffixlist` package, never fetched."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

from pipeline.assistants import fields
from pipeline.errors import ValidationError

MAX_DOMAINS = 50
HTTP = "http://"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})  # plain http allowed without saying so

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_WILDCARD = re.compile(rf"\*\.{_LABEL}(\.{_LABEL})+")  # `*.com` would hand a whole TLD to anyone
_MAX_HOST = 253


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the package's bundled list; read once, on first use


def _host(entry: str) -> str | None:
    """The exact host an entry names (`http://` dropped), or None for a wildcard or a malformed entry."""
    host = entry.removeprefix(HTTP)
    return host if len(host) <= _MAX_HOST and _HOST.fullmatch(host) else None


def _wildcard(entry: str) -> bool:
    return len(entry) <= _MAX_HOST and bool(_WILDCARD.fullmatch(entry))


def domain(raw: object, at: str = "allowed_domains") -> str:
    """One allowlist entry: a host name, `http://` + a host name, or `*.` + a host name that is not a
    public suffix; lowercased; no port or path."""
    if not isinstance(raw, str) or not raw:
        raise fields.fail("allowed_domains", f"{at} must be a non-empty string", at=at)
    entry = raw.strip().lower()
    if _host(entry) is None and not _wildcard(entry):
        raise fields.fail(
            "allowed_domains",
            f"{at} must be a host name such as shop.example.com (https only), http://shop.example.com "
            f"(plain http too) or a wildcard such as *.example.com (no port or path): {raw!r}",
            at=at,
        )
    if _wildcard(entry) and _suffixes().is_public(entry[2:]):
        raise fields.fail(
            "allowed_domains",
            f"{at} is a wildcard over the public suffix {entry[2:]!r}, under which anyone can register "
            f"a site: name your own domain (*.yours.{entry[2:]}) or exact hosts: {raw!r}",
            at=at,
        )
    return entry


def domains(raw: object) -> tuple[str, ...]:
    """The `allowed_domains` list from the API: each entry checked by `domain`, duplicates dropped."""
    items = fields.array(raw, "allowed_domains", most=MAX_DOMAINS)
    entries = (domain(d, f"allowed_domains[{i}]") for i, d in enumerate(items))
    return tuple(dict.fromkeys(entries))  # deduplicated, first mention kept


def _allows(entry: str, host: str, scheme: str) -> bool:
    """Whether one entry allows a page at `scheme://host`."""
    entry = entry.lower()
    if entry.startswith("*."):
        return scheme == "https" and host.endswith(entry[1:]) and len(host) > len(entry) - 1
    if host != entry.removeprefix(HTTP):
        return False
    return scheme == "https" or entry.startswith(HTTP) or host in LOCAL_HOSTS


def entry_for(origin: str) -> str | None:
    """The allowlist entry that lets a page at `origin` in, and no more: its host for https, `http://`
    and its host for plain http; None for what is not a bare origin or makes no valid entry."""
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        return None
    raw = parts.hostname if parts.scheme == "https" else HTTP + parts.hostname
    try:
        return domain(raw)
    except ValidationError:
        return None


def origin_allowed(origin: str | None, allowed_domains: Sequence[str]) -> bool:
    """Whether a page at `origin` (an Origin header: scheme://host[:port]) may use the assistant.

    The host must match an entry (any port); https always, plain http only for an `http://` entry and
    for localhost and 127.0.0.1 (local development, tests). `null` and anything that is not a bare
    origin is refused.
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
    return any(_allows(entry, host, parts.scheme) for entry in allowed_domains)


def frame_ancestors(allowed_domains: Sequence[str]) -> str:
    """The CSP `frame-ancestors` source list for the allowlist, or `'none'` when it is empty.

    Sources carry `:*` because the allowlist does not restrict ports (a source without a port would
    only match the scheme's default port, breaking http://localhost:8000 pages).
    """
    sources: list[str] = []
    for raw in allowed_domains:
        entry = raw.strip().lower()
        host = _host(entry)
        if _wildcard(entry):
            sources.append(f"https://{entry}:*")
        elif host is not None:  # entries that are not valid hosts cannot reach a CSP header
            sources.append(f"https://{host}:*")
            if entry.startswith(HTTP) or host in LOCAL_HOSTS:
                sources.append(f"http://{host}:*")
    return " ".join(dict.fromkeys(sources)) or "'none'"
