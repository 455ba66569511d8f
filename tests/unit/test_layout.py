"""The pure core stays pure: nothing under pipeline/ imports the I/O libraries or the folders above it.

The boundary is the folder: every module found under pipeline/ is read, local imports included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "pipeline"
# The folders above the core, and the libraries that do I/O.
FORBIDDEN = frozenset(
    {
        "agents",
        "projections",
        "gateway",
        "infra",
        "faust",
        "aiokafka",
        "asyncpg",
        "starlette",
        "httpx",
        "uvicorn",
    }
)
CORE_MODULES = sorted(CORE.rglob("*.py"))


def forbidden_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import, at any depth, of a module under a forbidden top-level name."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return sorted((line, module) for line, module in found if module.split(".")[0] in FORBIDDEN)


def test_the_walk_sees_the_whole_core() -> None:
    names = {path.relative_to(CORE).as_posix() for path in CORE_MODULES}
    assert {"codec.py", "billing/fold.py", "chat/conversation.py", "records/billing.py"} <= names


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda path: path.relative_to(CORE).as_posix())
def test_core_module_imports_nothing_above_it(path: Path) -> None:
    assert forbidden_imports(path.read_text()) == []


def test_a_local_import_from_above_is_caught() -> None:
    source = (
        "from pipeline.money import ZERO\n"
        "import faust.types\n"
        "def f():\n"
        "    from projections.db import create_pool\n"
        "    import infrastructure\n"
    )
    assert forbidden_imports(source) == [(2, "faust.types"), (4, "projections.db")]
