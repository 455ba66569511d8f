"""Every `revos ...` command line quoted in docs/runbook.md parses with the command line's own parser, so
the runbook cannot drift from the CLI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from infra.cli.main import build_parser

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"
# A command in a code block (one per line) or in backticks inline.
_COMMAND = re.compile(r"^\s*(revos [^\n`]+)$|`(revos [^`]+)`", re.MULTILINE)


def commands() -> list[str]:
    found = [a or b for a, b in _COMMAND.findall(RUNBOOK.read_text())]
    return [c.strip() for c in found]


def test_the_runbook_quotes_commands() -> None:
    assert "revos logs --request-id req_0123456789abcdef0123" in commands()


@pytest.mark.parametrize("line", commands())
def test_each_quoted_command_parses(line: str) -> None:
    build_parser().parse_args(shlex.split(line)[1:])
