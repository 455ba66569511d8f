"""`revos logs`: every process's file merged in time order, text lines passed through, filters applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from infra.cli.main import main
from infra.logs.reader import Filter, Follower, log_files, merged, parse_since


def _json(t: str, level: str, message: str, **fields: object) -> str:
    return orjson.dumps(
        {"time": t, "level": level, "process": "x", "logger": "l", "message": message, **fields}
    ).decode()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "gateway.log").write_text(
        "--- 2025-01-31T12:00:00+00:00 starting gateway: python -m infra.cli.main gateway\n"
        + _json("2025-01-31T12:00:01.000Z", "info", "ready")
        + "\n"
        + _json("2025-01-31T12:00:03.000Z", "warning", "slow", request_id="req_a", tenant_id="ten_1")
        + "\n"
    )
    (logs / "worker-0.log").write_text(
        _json("2025-01-31T12:00:02.000Z", "debug", "watermarks")
        + "\n"
        + _json("2025-01-31T12:00:04.000Z", "info", "applied", request_ids=["req_b", "req_a"])
        + "\n"
        + _json("2025-01-31T12:00:05.000Z", "error", "failed", request_id="req_c", exc="Traceback ...")
        + "\n"
        + "Traceback (most recent call last):\n"  # printed outside logging: keeps the time before it
    )
    (logs / "broker.log").write_text("broker started, not ours\n")
    monkeypatch.setenv("REVOS_HOME", str(tmp_path))
    return tmp_path


def _messages(home: Path, keep: Filter) -> list[tuple[str, str]]:
    return [(e.process, str(e.fields["message"])) for e in merged(log_files(home / "logs"), keep)]


def test_files_are_merged_in_time_order_with_text_lines_passed_through(home: Path) -> None:
    assert _messages(home, Filter()) == [
        ("broker", "broker started, not ours"),  # no time: the start of time
        ("gateway", "--- 2025-01-31T12:00:00+00:00 starting gateway: python -m infra.cli.main gateway"),
        ("gateway", "ready"),
        ("worker-0", "watermarks"),
        ("gateway", "slow"),
        ("worker-0", "applied"),
        ("worker-0", "failed"),
        ("worker-0", "Traceback (most recent call last):"),
    ]


def test_filters(home: Path) -> None:
    assert _messages(home, Filter(request_id="req_a")) == [("gateway", "slow"), ("worker-0", "applied")]
    assert _messages(home, Filter(processes=("worker",), level="warning")) == [("worker-0", "failed")]
    since = datetime(2025, 1, 31, 12, 0, 4, tzinfo=UTC)
    assert [m for _, m in _messages(home, Filter(processes=("worker-0",), since=since))] == [
        "applied",
        "failed",
        "Traceback (most recent call last):",
    ]


def test_since_takes_a_time_or_a_duration() -> None:
    now = datetime(2025, 1, 31, 12, tzinfo=UTC)
    assert parse_since("15m", now) == now - timedelta(minutes=15)
    assert parse_since("2025-01-31T11:00:00Z", now) == datetime(2025, 1, 31, 11, tzinfo=UTC)
    with pytest.raises(ValueError, match="--since"):
        parse_since("yesterday", now)


def test_the_command_prints_pretty_or_json(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "--request-id", "req_a"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "2025-01-31 12:00:03.000 gateway   WARNING l: slow  request_id=req_a tenant_id=ten_1",
        '2025-01-31 12:00:04.000 worker-0  INFO    l: applied  request_ids=["req_b","req_a"]',
    ]
    assert main(["logs", "--json", "--level", "error"]) == 0
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["process"], line["message"], line["time"]) for line in lines] == [
        ("worker-0", "failed", "2025-01-31T12:00:05.000Z")
    ]


def test_a_bad_since_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "--since", "soon"]) == 2
    assert "--since" in capsys.readouterr().err


def test_follow_reads_only_complete_new_lines_of_old_and_new_files(home: Path) -> None:
    follower = Follower(home / "logs")
    follower.skip_to_end()
    assert follower.new_entries() == []
    with open(home / "logs" / "gateway.log", "a") as f:
        f.write(_json("2025-01-31T12:01:00.000Z", "info", "later") + "\n" + '{"time": "2025')
    (home / "logs" / "relay.log").write_text(_json("2025-01-31T12:00:59.000Z", "info", "relaying") + "\n")
    assert [(e.process, e.fields["message"]) for e in follower.new_entries()] == [
        ("relay", "relaying"),
        ("gateway", "later"),
    ]
    assert follower.new_entries() == []
