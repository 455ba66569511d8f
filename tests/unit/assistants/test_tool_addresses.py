"""A tool's host in canonical form, and which addresses count as public."""

from __future__ import annotations

import ipaddress

import pytest

from pipeline.assistants.tool_addresses import canonical_host, canonical_url, is_public


@pytest.mark.parametrize(
    ("host", "canonical"),
    [
        ("straße.example", "xn--strae-oqa.example"),  # IDNA 2008: ß is kept, not folded to ss
        ("\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com", "example.com"),  # UTS 46 maps full-width EXAMPLE
        ("Bücher.DE", "xn--bcher-kva.de"),
        ("127.0.0.1", "127.0.0.1"),
        ("0:0:0:0:0:0:0:1", "::1"),
    ],
)
def test_a_host_has_one_canonical_form(host: str, canonical: str) -> None:
    assert canonical_host(host) == canonical


@pytest.mark.parametrize("host", ["exa mple.com", "xn--zz.example", "a..b", "-dash.example"])
def test_an_invalid_host_name_is_refused(host: str) -> None:
    with pytest.raises(ValueError):
        canonical_host(host)


def test_a_url_keeps_everything_but_its_host() -> None:
    assert canonical_url("https://u:p@Straße.example:8443/a/b?c=d#e") == (
        "https://u:p@xn--strae-oqa.example:8443/a/b?c=d#e"
    )
    assert canonical_url("http://[0::1]:8080/x") == "http://[::1]:8080/x"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
        ("::ffff:93.184.215.14", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("fec0::1", False),  # site-local
        ("ff0e::1", False),  # global-scope multicast
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::808:808", False),  # NAT64 of a public address: still relayed by a gateway inside
        ("64:ff9b:1::a00:1", False),
        ("::a00:1", False),  # IPv4-compatible ::10.0.0.1
        ("::808:808", False),
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
    ],
)
def test_only_plain_public_unicast_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public
