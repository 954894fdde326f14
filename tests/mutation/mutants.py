"""Mutants of one Python file: small AST-guided edits applied to the source text.

Each mutant replaces the source span of one node (expression or statement) with new text, so the rest
of the file, its line numbers included, stays byte for byte as written. Operators:

- comparison: ``<``/``<=``, ``>``/``>=``, ``==``/``!=``, ``in``/``not in``, ``is``/``is not`` swapped;
- boolean: ``and``/``or`` swapped, ``not x`` -> ``x``;
- arithmetic: ``+``/``-`` swapped, ``*``/``//`` swapped (not on string or bytes concatenation);
- int constants: ``n`` -> ``n + 1`` and ``n - 1`` (bools are not ints here);
- ``if`` conditions forced to ``True`` and to ``False``;
- ``return x`` -> ``return None`` (``return True``/``False`` flipped instead);
- statement deletion (-> ``pass``) inside functions: raise, assignment, augmented assignment, call.

Not mutated: docstrings, annotations, f-strings, logging calls, ``if TYPE_CHECKING``.

A mutant's id is a hash of (file, enclosing function, operator, the original node's source, its
ordinal among identical ones), so it survives edits elsewhere in the file: equivalent mutants are
listed by id (``equivalent.txt``).
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass

COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult,
}
LOGGER_NAMES = {"log", "logger", "logging", "_log", "LOG"}


@dataclass(frozen=True)
class Mutant:
    """One edit of one file."""

    id: str
    """Stable id (see the module docstring)."""
    path: str
    """File, relative to the repository root."""
    line: int
    """Line of the mutated node in the original file."""
    function: str
    """Qualified name of the enclosing function or class ('' at module level)."""
    operator: str
    """Which operator made it (compare, boolop, not, arith, const, if_true, if_false, return, delete)."""
    description: str
    """``before -> after``, one line."""
    start: int
    """Byte offset of the replaced span in the original file."""
    end: int
    replacement: bytes

    def apply(self, source: bytes) -> bytes:
        return source[: self.start] + self.replacement + source[self.end:]

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def _one_line(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Collector:
    def __init__(self, source: bytes, path: str, only: str | None) -> None:
        self.source = source
        self.path = path
        self.only = only
        lines = source.split(b"\n")
        self.line_starts = [0]
        for line in lines[:-1]:
            self.line_starts.append(self.line_starts[-1] + len(line) + 1)
        self.raw: list[tuple[ast.AST, str, str, str]] = []  # node, qualname, operator, replacement

    def offset(self, line: int, col: int) -> int:
        return self.line_starts[line - 1] + col

    def span_text(self, node: ast.AST) -> str:
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        return self.source[start:end].decode()

    def add(self, node: ast.AST, qualname: str, operator: str, replacement: str) -> None:
        if self.only is None or qualname == self.only or qualname.startswith(self.only + "."):
            self.raw.append((node, qualname, operator, replacement))

    # ---- walking ----

    def visit(self, node: ast.AST, qualname: str, in_function: bool) -> None:
        if isinstance(node, ast.JoinedStr):
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            inner = f"{qualname}.{node.name}" if qualname else node.name
            for deco in node.decorator_list:
                self.visit(deco, qualname, in_function)
            if not isinstance(node, ast.ClassDef):
                for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
                    self.visit(default, qualname, in_function)
            self.visit_body(node.body, inner, not isinstance(node, ast.ClassDef) or in_function)
            return
        if isinstance(node, ast.stmt):
            self.visit_statement(node, qualname, in_function)
            return
        self.mutate_expression(node, qualname)
        for child in ast.iter_child_nodes(node):
            self.visit(child, qualname, in_function)

    def visit_body(self, body: list[ast.stmt], qualname: str, in_function: bool) -> None:
        for i, stmt in enumerate(body):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                    and isinstance(stmt.value.value, str):
                continue  # docstring
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # attribute docstring
            self.visit(stmt, qualname, in_function)

    def visit_statement(self, node: ast.stmt, qualname: str, in_function: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return
        if isinstance(node, ast.If):
            test_src = ast.unparse(node.test)
            if test_src in ("TYPE_CHECKING", "typing.TYPE_CHECKING") or "__name__" in test_src:
                return
            self.add(node.test, qualname, "if_true", "True")
            self.add(node.test, qualname, "if_false", "False")
        if isinstance(node, ast.Return) and node.value is not None:
            value = node.value
            if isinstance(value, ast.Constant) and isinstance(value.value, bool):
                self.add(value, qualname, "return", repr(not value.value))
            elif not (isinstance(value, ast.Constant) and value.value is None):
                self.add(value, qualname, "return", "None")
        if in_function and self.deletable(node):
            self.add(node, qualname, "delete", "pass")
        # children, skipping annotations and nested docstrings
        for name, field in ast.iter_fields(node):
            if name in ("annotation", "returns", "type_comment"):
                continue
            if isinstance(field, list):
                if field and all(isinstance(x, ast.stmt) for x in field):
                    self.visit_body(field, qualname, in_function)
                else:
                    for item in field:
                        if isinstance(item, ast.AST):
                            self.visit(item, qualname, in_function)
            elif isinstance(field, ast.AST):
                self.visit(field, qualname, in_function)

    @staticmethod
    def deletable(node: ast.stmt) -> bool:
        if isinstance(node, (ast.Raise, ast.Assign, ast.AugAssign)):
            return True
        if isinstance(node, ast.AnnAssign):
            return node.value is not None
        if isinstance(node, ast.Expr) and isinstance(node.value, (ast.Call, ast.Await)):
            call = node.value.value if isinstance(node.value, ast.Await) else node.value
            func = call.func if isinstance(call, ast.Call) else None
            return not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                        and func.value.id in LOGGER_NAMES)
        return False

    def mutate_expression(self, node: ast.AST, qualname: str) -> None:
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                swap = COMPARE_SWAPS.get(type(op))
                if swap is None:
                    continue
                new = ast.Compare(node.left, [*node.ops[:i], swap(), *node.ops[i + 1:]], node.comparators)
                self.add(node, qualname, "compare", f"({ast.unparse(new)})")
        elif isinstance(node, ast.BoolOp):
            other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            self.add(node, qualname, "boolop", f"({ast.unparse(ast.BoolOp(other, node.values))})")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self.add(node, qualname, "not", f"({ast.unparse(node.operand)})")
        elif isinstance(node, ast.BinOp):
            swap = BINOP_SWAPS.get(type(node.op))
            textual = any(isinstance(side, ast.JoinedStr) or (isinstance(side, ast.Constant)
                          and isinstance(side.value, (str, bytes))) for side in (node.left, node.right))
            if swap is not None and not textual:
                self.add(node, qualname, "arith", f"({ast.unparse(ast.BinOp(node.left, swap(), node.right))})")
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            self.add(node, qualname, "const", f"({node.value + 1})")
            self.add(node, qualname, "const", f"({node.value - 1})")

    # ---- results ----

    def mutants(self) -> list[Mutant]:
        out: list[Mutant] = []
        seen: dict[tuple[str, str, str, str], int] = {}
        for node, qualname, operator, replacement in self.raw:
            start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
            end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
            original = self.source[start:end].decode()
            if original == replacement:
                continue
            key = (qualname, operator, original, replacement)
            ordinal = seen.get(key, 0)
            seen[key] = ordinal + 1
            digest = hashlib.sha1("\x1f".join([self.path, *key, str(ordinal)]).encode()).hexdigest()[:10]
            out.append(Mutant(digest, self.path, node.lineno, qualname, operator,  # type: ignore[attr-defined]
                              f"{_one_line(original)} -> {_one_line(replacement)}", start, end,
                              replacement.encode()))
        return out


def mutants_of(source: bytes, path: str, only: str | None = None) -> list[Mutant]:
    """Every mutant of ``source`` (the file ``path``), or only those inside function ``only``."""
    tree = ast.parse(source)
    collector = _Collector(source, path, only)
    collector.visit_body(tree.body, "", False)
    valid = []
    for mutant in collector.mutants():
        try:
            compile(mutant.apply(source), path, "exec")
        except SyntaxError:
            continue
        valid.append(mutant)
    valid.sort(key=lambda m: (m.start, m.operator, m.description))
    return valid
