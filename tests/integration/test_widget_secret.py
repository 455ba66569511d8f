"""The widget token secret: configured, or created once in REVOS_HOME and shared by every process."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.chat.widget_secret import widget_secret
from pipeline.errors import ConfigurationError
from pipeline.settings import Settings

READ = "from pipeline.settings import Settings; from gateway.chat.widget_secret import widget_secret; " \
       "print(widget_secret(Settings.from_env()).hex())"  # fmt: skip


CONFIGURED = "c" * 32


def test_a_configured_secret_is_used_as_is(tmp_path: Path) -> None:
    assert widget_secret(Settings(home=tmp_path, widget_secret=CONFIGURED)) == CONFIGURED.encode()
    assert not (tmp_path / "widget.secret").exists()


def test_a_configured_secret_shorter_than_32_bytes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="REVOS_WIDGET_SECRET must be at least 32 bytes"):
        Settings.from_env({"REVOS_HOME": str(tmp_path), "REVOS_WIDGET_SECRET": "c" * 31})
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        widget_secret(Settings(home=tmp_path, widget_secret="configured"))
    assert (
        Settings.from_env({"REVOS_WIDGET_SECRET": "\u00e9" * 16}).widget_secret == "\u00e9" * 16
    )  # 32 bytes


def test_the_gateway_refuses_to_start_with_a_short_secret(tmp_path: Path) -> None:
    env = {**os.environ, "REVOS_HOME": str(tmp_path), "REVOS_WIDGET_SECRET": "secret"}
    started = subprocess.run(
        [sys.executable, "-m", "infra.cli.main", "gateway"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2, started.stderr
    assert "REVOS_WIDGET_SECRET must be at least 32 bytes" in started.stderr


def test_processes_starting_together_all_get_the_one_secret_that_was_created(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"REVOS_HOME": str(home), "PATH": "/usr/bin:/bin"}
    starting = [
        subprocess.Popen(
            [sys.executable, "-c", READ], env=env, stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
        )
        for _ in range(8)
    ]
    secrets = {p.communicate(timeout=60)[0].strip() for p in starting}
    assert all(p.returncode == 0 for p in starting)
    assert len(secrets) == 1 and len(bytes.fromhex(secrets.pop())) == 32
    secret_file = home / "widget.secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in home.iterdir()) == ["widget.secret"]  # no temporary file left behind
    assert widget_secret(Settings(home=home)) == bytes.fromhex(secret_file.read_text())
