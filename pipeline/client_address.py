"""Who is asking: the client's address as the trusted proxies in front of the gateway saw it.

Each proxy appends the address it was reached from to `X-Forwarded-For`, so only the right end of the
header is the proxies' word; anything to the left of an untrusted entry was written by the client. The
client is therefore the right-most entry that is not a trusted proxy. Rate limits count IPv6 clients
by their /64, the block one host or one home network gets and rotates addresses within.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = frozenset({"http", "https", "ws", "wss"})


def _address(text: str) -> IPAddress | None:
    """An address from a header entry or a socket peer: bare, `[v6]:port` or `v4:port`; None if not one."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The proxies whose forwarding headers the gateway believes; `any` believes one hop from anyone."""

    networks: tuple[IPNetwork, ...] = ()
    any: bool = False

    @classmethod
    def parse(cls, spec: str) -> TrustedProxies:
        """From `REVOS_FORWARDED_ALLOW_IPS`: comma-separated addresses or networks, or `*`."""
        items = [item.strip() for item in spec.split(",") if item.strip()]
        if "*" in items:
            return cls(any=True)
        try:
            return cls(tuple(ipaddress.ip_network(item, strict=False) for item in items))
        except ValueError as exc:
            raise ValueError(f"not an address or network: {exc}") from exc

    def trusts(self, address: IPAddress | None) -> bool:
        if address is None:
            return False
        return self.any or any(address in network for network in self.networks)

    def believes(self, peer: str | None) -> bool:
        """Whether the headers of a connection from `peer` (an address as the server gives it) count."""
        return self.trusts(_address(peer) if peer else None)


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: TrustedProxies) -> str | None:
    """The client's address: the right-most `X-Forwarded-For` entry that is not a trusted proxy.

    Headers count only when the peer is trusted. With `*` only the last hop is believed (the entry the
    peer appended): with every address trusted there is no other way to tell a proxy's entry from one
    the client wrote itself.
    """
    here = _address(peer) if peer else None
    if not trusted.trusts(here):
        return str(here) if here is not None else peer
    entries = [entry for header in forwarded_for for entry in header.split(",") if entry.strip()]
    for entry in reversed(entries):
        address = _address(entry)
        if address is None:  # garbage in the chain: the peer's word goes no further
            break
        if trusted.any or not trusted.trusts(address):
            return str(address)
        here = address
    return str(here) if here is not None else peer


def limit_key(address: str | None) -> str:
    """The bucket key of an address: IPv4 as is, IPv6 by its /64."""
    found = _address(address) if address else None
    if found is None:
        return address or "unknown"
    if isinstance(found, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((found, 64), strict=False))
    return str(found)
