"""The dependency rules between layers and between node/'s wings, checked by reading imports.

Each rule restates a paragraph of a package docstring (storage/, consensus/, node/__init__.py and
node/*/__init__.py). Imports are read at every nesting level (tests/imports.py), so an import inside a
function counts. A failure lists each offending file, line and import statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.imports import Import, imports_in_file, python_files

ROOT = Path(__file__).resolve().parents[1]

ANYTHING = "*"  # a forbidden prefix that matches every import (``__future__`` excepted)
IO = ("asyncio", "aiohttp", "socket", "threading", "subprocess")


@dataclass(frozen=True)
class Rule:
    """Files under ``scope`` (minus ``exempt``) import nothing inside any of ``forbidden``."""

    id: str
    name: str
    scope: tuple[str, ...]  # files or folders, relative to the repository root
    forbidden: tuple[str, ...]  # module prefixes: "node.tools" forbids node.tools and node.tools.*
    exempt: tuple[str, ...] = ()

    def forbids(self, imp: Import) -> bool:
        if imp.root == "__future__":
            return False
        return any(prefix == ANYTHING or imp.is_within(prefix) for prefix in self.forbidden)

    def files(self, root: Path) -> list[Path]:
        skipped = [root / path for path in self.exempt]
        return [path for scope in self.scope for path in python_files(root, scope)
                if not any(path == skip or skip in path.parents for skip in skipped)]

    def violations(self, root: Path) -> list[Import]:
        return [imp for path in self.files(root) for imp in imports_in_file(root, path) if self.forbids(imp)]


def report(rule: Rule, violations: list[Import]) -> str:
    """One line per offending statement: file:line: statement   (the forbidden modules it names)."""
    modules: dict[str, list[str]] = {}
    for imp in violations:
        modules.setdefault(str(imp), []).append(imp.module)
    lines = "\n".join(f"  {where}   ({', '.join(names)})" for where, names in modules.items())
    return f"{rule.name}: {len(modules)} forbidden import(s)\n{lines}"


WINGS_ABOVE_LEDGER = ("node.intake", "node.p2p", "node.runtime", "node.api", "node.tools", "node.assembly",
                      "node.cli")

STORAGE = Rule("storage", "storage knows nothing of consensus, the node or the network", ("storage",),
               ("node", "consensus", "asyncio", "aiohttp", "socket"))
CONSENSUS = Rule("consensus", "consensus never imports the node, storage, LevelDB or aiohttp", ("consensus",),
                 ("node", "storage", "plyvel", "aiohttp"))
LEDGER = Rule("ledger",
              "node/ledger is pure (no asyncio, aiohttp, sockets, threads, subprocesses) and imports no other wing",
              ("node/ledger",), IO + WINGS_ABOVE_LEDGER)
INTAKE = Rule("intake", "node/intake imports only node.ledger among the wings", ("node/intake",),
              ("node.p2p", "node.runtime", "node.api", "node.tools", "node.assembly", "node.cli"))
P2P = Rule("p2p", "node/p2p never imports runtime, api, tools or the composition root", ("node/p2p",),
           ("node.runtime", "node.api", "node.tools", "node.assembly"))
RUNTIME = Rule("runtime", "node/runtime never imports p2p, api, tools or the composition root", ("node/runtime",),
               ("node.p2p", "node.api", "node.tools", "node.assembly"))
API = Rule("api", "node/api never imports p2p, tools or the composition root", ("node/api",),
           ("node.p2p", "node.tools", "node.assembly"))
TOOLS = Rule("tools", "nothing in the product outside node/tools and node/cli.py imports node.tools",
             ("node", "consensus", "storage"), ("node.tools",), exempt=("node/tools", "node/cli.py"))
OPS = Rule("ops", "nothing in the product outside node/ops and node/cli.py imports node.ops",
           ("node", "consensus", "storage"), ("node.ops",), exempt=("node/ops", "node/cli.py"))
OPS_IMPORTS = Rule("ops-imports", "node/ops runs no node: never imports the root, runtime, p2p, intake, tools or servers",
                   ("node/ops",), ("node.assembly", "node.runtime", "node.p2p", "node.intake", "node.tools", "asyncio",
                                   "aiohttp"))
NODE_PACKAGE = Rule("node-package", "node/__init__.py imports nothing (importing node has no side effects)",
                    ("node/__init__.py",), (ANYTHING,))

RULES = (STORAGE, CONSENSUS, LEDGER, INTAKE, P2P, RUNTIME, API, TOOLS, OPS, OPS_IMPORTS, NODE_PACKAGE)

# Known violations, as {rule id: reason}: each becomes a strict xfail, so the test fails (XPASS) the
# moment the code is fixed and the entry must then go. Empty: the p2p -> runtime and api -> assembly
# imports found when this test grew are fixed in the same round of work (issue 15, point 3).
KNOWN: dict[str, str] = {}


def rule_param(rule: Rule) -> pytest.ParameterSet:
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN[rule.id])] if rule.id in KNOWN else []
    return pytest.param(rule, id=rule.id, marks=marks)


@pytest.mark.parametrize("rule", [rule_param(rule) for rule in RULES])
def test_layering_rule_holds(rule: Rule) -> None:
    violations = rule.violations(ROOT)
    assert not violations, report(rule, violations)


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_every_rule_reads_real_files(rule: Rule) -> None:
    """A renamed or moved folder must not turn a rule into one that checks nothing."""
    assert rule.files(ROOT), f"{rule.name}: no Python file found under {rule.scope}"


# ---- negative controls: the same rules, run on a throwaway tree that breaks them ----

def _example_violation(rule: Rule) -> tuple[str, str]:
    """A file inside the rule's scope and a forbidden import for it, nested in a function."""
    scope = rule.scope[0]
    path = scope if scope.endswith(".py") else f"{scope}/control_module.py"
    prefix = rule.forbidden[0]
    return path, "json" if prefix == ANYTHING else prefix


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_each_rule_catches_a_forbidden_import_inside_a_function(rule: Rule, tmp_path: Path) -> None:
    path, module = _example_violation(rule)
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(f'"""A module."""\n\n\ndef late() -> None:\n    import {module}\n')
    violations = rule.violations(tmp_path)
    assert [(imp.file, imp.line, imp.module) for imp in violations] == [(path, 5, module)]
    assert f"{path}:5: import {module}" in report(rule, violations)


def test_the_ledger_rule_catches_asyncio_and_a_wing_in_any_spelling(tmp_path: Path) -> None:
    ledger = tmp_path / "node" / "ledger"
    ledger.mkdir(parents=True)
    (ledger / "__init__.py").write_text("")
    (ledger / "bad.py").write_text(
        "from asyncio import sleep\n"
        "from node import runtime\n"
        "from ..tools import chaos\n"
        "import node.intake.mempool as m\n"
        "class K:\n"
        "    def f(self) -> None:\n"
        "        import importlib\n"
        "        importlib.import_module('threading')\n"
        "from node.ledger import ids\n"
        "import consensus.codec\n")
    found = {(imp.line, imp.module) for imp in LEDGER.violations(tmp_path)}
    assert found == {(1, "asyncio.sleep"), (2, "node.runtime"), (3, "node.tools.chaos"),
                     (4, "node.intake.mempool"), (8, "threading")}


def test_the_tools_rule_exempts_only_the_tools_wing_and_the_cli(tmp_path: Path) -> None:
    for name in ("node/cli.py", "node/tools/demo.py", "node/runtime/driver.py", "consensus/engine.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("from node.tools import testnet\n")
    assert sorted(imp.file for imp in TOOLS.violations(tmp_path)) == [
        "consensus/engine.py", "node/runtime/driver.py"]


def test_the_node_package_rule_allows_only_a_docstring_and_future_imports(tmp_path: Path) -> None:
    (tmp_path / "node").mkdir()
    (tmp_path / "node" / "__init__.py").write_text('"""Doc."""\nfrom __future__ import annotations\n')
    assert NODE_PACKAGE.violations(tmp_path) == []
    (tmp_path / "node" / "__init__.py").write_text('"""Doc."""\nfrom consensus import codec\n')
    assert [imp.module for imp in NODE_PACKAGE.violations(tmp_path)] == ["consensus.codec"]
