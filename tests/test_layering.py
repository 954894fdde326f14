"""The dependency rules of ARCHITECTURE.md section 2, checked by reading imports."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_top_levels(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_storage_knows_nothing_of_consensus_node_or_network() -> None:
    for path, names in imported_top_levels("storage").items():
        assert not names & {"node", "consensus", "asyncio", "aiohttp", "socket"}, path


def test_consensus_never_imports_node_or_storage() -> None:
    for path, names in imported_top_levels("consensus").items():
        assert not names & {"node", "storage", "plyvel", "aiohttp"}, path
