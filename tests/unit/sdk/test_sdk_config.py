"""Settings: arguments, environment, validation (no I/O)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from revos_sdk import Config
from revos_sdk._config import DEFAULT_BASE_URL, OPTION_NAMES, Options


def test_arguments_win_over_the_environment() -> None:
    env = {"REVOS_API_KEY": "env-key", "REVOS_BASE_URL": "http://env:1", "REVOS_SPOOL_DIR": "/tmp/s"}
    assert Config.from_env(env=env).api_key == "env-key"
    config = Config.from_env("arg-key", "http://arg:2/", env=env)
    assert (config.api_key, config.base_url, config.spool_dir) == ("arg-key", "http://arg:2", Path("/tmp/s"))


def test_defaults() -> None:
    config = Config.from_env("k", env={})
    assert config.base_url == DEFAULT_BASE_URL and config.spool_dir is None
    assert (config.max_batch_events, config.max_batch_wait, config.max_queue_size) == (100, 0.5, 10_000)


def test_a_missing_key_is_explained() -> None:
    with pytest.raises(ValueError, match="REVOS_API_KEY"):
        Config.from_env(env={})


@pytest.mark.parametrize(
    "options",
    [
        {"max_batch_events": 0},
        {"max_batch_events": 1001},
        {"max_batch_bytes": 2 << 20},
        {"overflow": "wait"},
        {"request_timeout": -1},
        {"max_queue_size": 0},
    ],
)
def test_out_of_range_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Config.from_env("k", env={}, **options)


def test_unknown_options_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="max_batch_size"):
        Config.from_env("k", env={}, max_batch_size=10)


def test_the_keyword_options_mirror_the_config_fields() -> None:
    assert set(Options.__annotations__) == OPTION_NAMES
    assert {f.name for f in fields(Config)} - {"api_key", "base_url"} == OPTION_NAMES
