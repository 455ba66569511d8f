"""Rate-limit and proxy settings: defaults, overrides, and refusals of what cannot be meant."""

from __future__ import annotations

import pytest

from pipeline.errors import ConfigurationError
from pipeline.settings import Settings


def test_limits_have_defaults_and_are_read() -> None:
    default = Settings.from_env({})
    assert (default.api_key_per_second, default.api_key_burst) == (1000.0, 2000)
    assert (default.chat_new_sessions_per_minute, default.chat_connects_per_minute) == (30, 60)
    read = Settings.from_env(
        {"REVOS_API_KEY_PER_SECOND": "2.5", "REVOS_API_KEY_BURST": "7", "REVOS_CHAT_CONNECTS_PER_MINUTE": "0"}
    )
    assert (read.api_key_per_second, read.api_key_burst, read.chat_connects_per_minute) == (2.5, 7, 0)


def test_a_negative_limit_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="REVOS_API_KEY_PER_SECOND"):
        Settings.from_env({"REVOS_API_KEY_PER_SECOND": "-1"})


def test_proxies_are_parsed_and_a_bad_one_is_a_configuration_error() -> None:
    trusted = Settings.from_env({"REVOS_FORWARDED_ALLOW_IPS": "10.0.0.0/8, 127.0.0.1"}).trusted_proxies
    assert trusted.believes("10.2.3.4") and not trusted.believes("192.0.2.1")
    with pytest.raises(ConfigurationError, match="REVOS_FORWARDED_ALLOW_IPS"):
        Settings.from_env({"REVOS_FORWARDED_ALLOW_IPS": "10.0.0.0/8, proxy.local"})
