"""Model provider settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ConfigurationError
from pipeline.settings import Settings


def test_model_settings_default_to_openrouter_without_a_key() -> None:
    settings = Settings.from_env({"REVOS_HOME": "/tmp/x"})
    assert (settings.model_base_url, settings.model_api_key, settings.offline_delay_ms) == (
        "https://openrouter.ai/api/v1",
        None,
        30,
    )


def test_model_settings_are_read_and_the_key_stays_out_of_repr() -> None:
    settings = Settings.from_env(
        {
            "REVOS_MODEL_BASE_URL": "http://127.0.0.1:9/v1",
            "REVOS_MODEL_API_KEY": "sk-secret",
            "REVOS_OFFLINE_DELAY_MS": "0",
        }
    )
    assert (settings.model_base_url, settings.model_api_key, settings.offline_delay_ms) == (
        "http://127.0.0.1:9/v1",
        "sk-secret",
        0,
    )
    assert "sk-secret" not in repr(settings)
    assert Settings(home=Path("/tmp")).model_api_key is None


def test_a_garbled_delay_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="REVOS_OFFLINE_DELAY_MS"):
        Settings.from_env({"REVOS_OFFLINE_DELAY_MS": "fast"})
