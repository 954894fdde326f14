"""One reader of Python imports from source, shared by the layering tests (tests/test_layering.py and
tests/consensus/test_imports.py).

It reads imports at every nesting level (module top, functions, classes, ``if TYPE_CHECKING:`` and
``try`` blocks): an import a function runs late is still a dependency. Relative imports are resolved
against the file's package, ``from a import b`` is recorded as ``a.b`` (so ``from node import tools``
is seen as importing ``node.tools``), and ``__import__("x")`` / ``importlib.import_module("x")`` calls
are recorded as dynamic imports (``DYNAMIC`` when the name is computed at run time).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

DYNAMIC = "<dynamic>"


@dataclass(frozen=True)
class Import:
    """One imported module name, where it was imported and how the source spells it."""

    file: str  # relative to the root it was read under, "/"-separated
    line: int
    module: str  # absolute dotted name; DYNAMIC when computed at run time
    statement: str  # the source text, for failure messages
    dynamic: bool = False  # an __import__ / importlib.import_module call, not a statement

    @property
    def root(self) -> str:
        return self.module.split(".")[0]

    def is_within(self, prefix: str) -> bool:
        """True when the module is ``prefix`` or lies inside it (``node.tools.chaos`` in ``node.tools``)."""
        return self.module == prefix or self.module.startswith(prefix + ".")

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.statement}"


def _is_dynamic_import(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def _absolute(module: str | None, level: int, package: str) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".") if package else []
    base = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    return ".".join([*base, module] if module else base)


def read_imports(source: str, *, file: str = "<string>", package: str = "") -> list[Import]:
    """Every import in ``source``, in source order. ``package`` is the dotted package the source
    belongs to (``node.p2p`` for node/p2p/network.py), used to resolve relative imports."""
    def text(item: ast.AST) -> str:
        return " ".join((ast.get_source_segment(source, item) or "").split())

    found: list[Import] = []
    for item in ast.walk(ast.parse(source)):
        if isinstance(item, ast.Import):
            found.extend(Import(file, item.lineno, alias.name, text(item)) for alias in item.names)
        elif isinstance(item, ast.ImportFrom):
            base = _absolute(item.module, item.level, package)
            for alias in item.names:
                name = base if alias.name == "*" else f"{base}.{alias.name}" if base else alias.name
                found.append(Import(file, item.lineno, name, text(item)))
        elif isinstance(item, ast.Call) and _is_dynamic_import(item):
            first = item.args[0] if item.args else None
            name = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else DYNAMIC
            found.append(Import(file, item.lineno, name, text(item), dynamic=True))
    return sorted(found, key=lambda imp: imp.line)


def package_of(relative: Path) -> str:
    """The dotted package a file belongs to: node/p2p/network.py and node/p2p/__init__.py -> node.p2p."""
    return ".".join(relative.parent.parts)


def python_files(root: Path, scope: str) -> list[Path]:
    """The .py files at ``scope`` (a file or a folder, relative to ``root``), sorted."""
    target = root / scope
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


def imports_in_file(root: Path, path: Path) -> list[Import]:
    relative = path.relative_to(root)
    return read_imports(path.read_text(), file=relative.as_posix(), package=package_of(relative))
