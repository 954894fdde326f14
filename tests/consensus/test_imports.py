"""The sans-IO rule, checked on the source: consensus/ outside its simulator does no I/O and keeps
no clock or randomness, and never reaches up into the node or the storage layers."""

from pathlib import Path

import consensus
from tests.imports import Import, imports_in_file, read_imports

FORBIDDEN = {"asyncio", "socket", "time", "random", "threading", "selectors", "multiprocessing",
             "subprocess", "datetime", "secrets", "node", "storage"}
PACKAGE = Path(consensus.__file__).parent


def imported_roots(imports: list[Import]) -> set[str]:
    """Top-level names imported, plus ``__import__`` for any dynamic import (forbidden outright)."""
    return {imp.root for imp in imports} | {"__import__" for imp in imports if imp.dynamic}


def engine_modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "sim" not in p.relative_to(PACKAGE).parts[:-1]]


def test_the_check_sees_every_engine_module_and_skips_the_simulator() -> None:
    names = {p.name for p in engine_modules()}
    assert {"engine.py", "messages.py", "safety.py", "codec.py", "crypto.py"} <= names
    assert not any("sim" in p.parts for p in engine_modules())


def test_the_check_would_catch_a_forbidden_import() -> None:
    source = "import time\nfrom asyncio import sleep\ndef f():\n    import node.config\n"
    assert imported_roots(read_imports(source)) == {"time", "asyncio", "node"}
    assert imported_roots(read_imports("__import__('os')\n")) == {"os", "__import__"}


def test_consensus_outside_the_simulator_imports_no_io_clock_randomness_node_or_storage() -> None:
    offenders = {
        str(p.relative_to(PACKAGE)): sorted(
            str(imp) for imp in imports_in_file(PACKAGE.parent, p)
            if imp.root in FORBIDDEN or imp.dynamic)
        for p in engine_modules()}
    assert {path: bad for path, bad in offenders.items() if bad} == {}
