"""Where a tenant's tool may be called: its host in one canonical form, and which addresses are public.

The name checked and the name connected to must be the same name, so a tool's host is put in its
wire form once (IDNA 2008 with the UTS 46 mapping, as browsers do) and every later step uses that.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

import idna

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 ranges that carry an IPv4 address a gateway or relay may forward to: judged non-public whatever
# the IPv4 address, since Python's `is_global` calls them global.
_EMBEDS_IPV4 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "64:ff9b::/96",  # NAT64, well-known prefix
        "64:ff9b:1::/48",  # NAT64, local-use prefix
        "::/96",  # IPv4-compatible (::a.b.c.d), deprecated
        "2002::/16",  # 6to4
    )
)


def canonical_host(host: str) -> str:
    """An IP literal in its normal form, or the name as lower-case ASCII (A-labels); ValueError if invalid."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"{host!r} is not a valid host name") from exc


def canonical_url(url: str) -> str:
    """`url` with its host in canonical form; ValueError if it has none or an invalid one."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError("the URL has no host")
    host = canonical_host(parts.hostname)
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    if "@" in parts.netloc:
        netloc = parts.netloc.rpartition("@")[0] + "@" + netloc
    return urlunsplit(parts._replace(netloc=netloc))


def is_public(address: IPAddress) -> bool:
    """True only for a unicast address reachable on the public internet (not one that embeds IPv4)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address.is_site_local or any(address in net for net in _EMBEDS_IPV4):
            return False
    return address.is_global and not address.is_multicast
