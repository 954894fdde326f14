"""The sans-IO rule, checked on the source: consensus/ outside its simulator does no I/O and keeps
no clock or randomness, and never reaches up into the node or the storage layers."""

import ast
from pathlib import Path

import consensus

FORBIDDEN = {"asyncio", "socket", "time", "random", "threading", "selectors", "multiprocessing",
             "subprocess", "datetime", "secrets", "node", "storage"}
PACKAGE = Path(consensus.__file__).parent


def imported_roots(source: str) -> set[str]:
    roots: set[str] = set()
    for item in ast.walk(ast.parse(source)):
        if isinstance(item, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in item.names)
        elif isinstance(item, ast.ImportFrom) and item.level == 0 and item.module:
            roots.add(item.module.split(".")[0])
        elif isinstance(item, ast.Call) and getattr(item.func, "id", None) == "__import__":
            roots.add("__import__")
    return roots


def engine_modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "sim" not in p.relative_to(PACKAGE).parts[:-1]]


def test_the_check_sees_every_engine_module_and_skips_the_simulator() -> None:
    names = {p.name for p in engine_modules()}
    assert {"engine.py", "messages.py", "safety.py", "codec.py", "crypto.py"} <= names
    assert not any("sim" in p.parts for p in engine_modules())


def test_the_check_would_catch_a_forbidden_import() -> None:
    assert imported_roots("import time\nfrom asyncio import sleep\nimport node.config\n") == {
        "time", "asyncio", "node"}


def test_consensus_outside_the_simulator_imports_no_io_clock_randomness_node_or_storage() -> None:
    offenders = {str(p.relative_to(PACKAGE)): sorted(imported_roots(p.read_text()) & (FORBIDDEN | {"__import__"}))
                 for p in engine_modules()}
    assert {path: bad for path, bad in offenders.items() if bad} == {}
