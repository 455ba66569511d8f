"""The client's address behind trusted proxies, and the bucket an address counts in."""

from __future__ import annotations

import pytest

from pipeline.client_address import TrustedProxies, client_address, limit_key

LOCAL = TrustedProxies.parse("127.0.0.1")
PROXIES = TrustedProxies.parse("127.0.0.1, 10.0.0.0/8")


def test_headers_count_only_from_a_trusted_peer() -> None:
    assert client_address("127.0.0.1", ["203.0.113.7"], LOCAL) == "203.0.113.7"
    assert client_address("198.51.100.4", ["203.0.113.7"], LOCAL) == "198.51.100.4"
    assert client_address("127.0.0.1", [], LOCAL) == "127.0.0.1"


def test_the_client_is_the_right_most_untrusted_entry() -> None:
    # The client wrote the left-most entry itself; each proxy appended the address it was reached from.
    assert client_address("127.0.0.1", ["6.6.6.6, 203.0.113.7, 10.1.2.3"], PROXIES) == "203.0.113.7"
    assert client_address("127.0.0.1", ["6.6.6.6", "203.0.113.7, 10.1.2.3"], PROXIES) == "203.0.113.7"
    # Every hop a proxy: the client is one of them.
    assert client_address("127.0.0.1", ["10.0.0.9, 10.1.2.3"], PROXIES) == "10.0.0.9"


def test_garbage_in_the_chain_stops_it_at_the_last_trusted_hop() -> None:
    assert client_address("127.0.0.1", ["203.0.113.7, unknown"], LOCAL) == "127.0.0.1"
    assert client_address("127.0.0.1", ["203.0.113.7, 10.1.2.3, nonsense"], PROXIES) == "127.0.0.1"


def test_any_proxy_is_believed_for_one_hop_only() -> None:
    anyone = TrustedProxies.parse("*")
    assert client_address("198.51.100.4", ["6.6.6.6, 203.0.113.7"], anyone) == "203.0.113.7"


def test_ports_brackets_and_mapped_addresses_are_read() -> None:
    assert client_address("127.0.0.1", ["203.0.113.7:5555"], LOCAL) == "203.0.113.7"
    assert client_address("127.0.0.1", ["[2001:db8::1]:443"], LOCAL) == "2001:db8::1"
    assert client_address("::ffff:127.0.0.1", ["203.0.113.7"], LOCAL) == "203.0.113.7"


def test_ipv6_counts_by_its_64_and_ipv4_by_itself() -> None:
    assert limit_key("2001:db8:1:2::1") == limit_key("2001:db8:1:2:ffff:0:0:9") == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key("203.0.113.7") == "203.0.113.7"
    assert limit_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert limit_key(None) == "unknown"


def test_a_bad_proxy_list_is_refused() -> None:
    with pytest.raises(ValueError):
        TrustedProxies.parse("127.0.0.1, not-an-address")
