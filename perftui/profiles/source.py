"""The application source a frame points at, when it can be found: definitions and SQL text.

py-spy shortens paths to what follows a sys.path entry (``shop_app.py``, ``app/views.py``), and
a profile is often read on another machine or from another directory than where it was
recorded. Rules and links use the source only to sharpen what the profile says (the ``def`` line,
the SQL a call site issues); without it they still work and say so.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

_SQL_START = re.compile(r"^\s*(select|insert|update|delete|with|replace)\b", re.IGNORECASE)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
_TABLES = re.compile(
    r"\b(?:from|join|update|into)\s+((?:[\"`]?\w+[\"`]?\.)?[\"`]?\w+[\"`]?)", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class FunctionSource:
    path: Path
    def_line: int
    end_line: int
    node: ast.FunctionDef | ast.AsyncFunctionDef = field(compare=False, repr=False)


class SourceFinder:
    """Finds files named by frames, relative to a few likely roots (first hit wins)."""

    def __init__(self, roots: list[Path] | None = None) -> None:
        self.roots: list[Path] = []
        for r in [*(roots or []), Path.cwd()]:
            r = r.resolve()
            if r.is_dir() and r not in self.roots:
                self.roots.append(r)

    def find(self, file: str | None) -> Path | None:
        if not file or file.startswith("<"):
            return None
        return _find(file, tuple(self.roots))

    def function(self, file: str | None, function: str) -> FunctionSource | None:
        """The ``def`` of ``function`` (``Class.method`` or a name) in ``file``."""
        path = self.find(file)
        if path is None:
            return None
        tree = _parse(path)
        if tree is None:
            return None
        node = _find_def(tree, function.split("."))
        if node is None:
            return None
        return FunctionSource(path, node.lineno, node.end_lineno or node.lineno, node)

    def sql_at(self, file: str | None, line: int | None, function: str | None = None) -> list[str]:
        """SQL-looking string literals of the statement at ``line`` (else of the function, else
        module constants the statement names)."""
        path = self.find(file)
        if path is None or line is None:
            return []
        tree = _parse(path)
        if tree is None:
            return []
        stmt = _statement_at(tree, line)
        found = _sql_strings(stmt) if stmt is not None else []
        if not found and stmt is not None:
            names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
            for node in tree.body:
                if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id in names for t in node.targets
                ):
                    found.extend(_sql_strings(node))
        if not found and function:
            fn = _find_def(tree, function.split("."))
            if fn is not None:
                found = _sql_strings(fn)
        return found

    def line_text(self, file: str | None, line: int | None) -> str | None:
        path = self.find(file)
        if path is None or line is None:
            return None
        lines = _lines(path)
        return lines[line - 1].strip() if 0 < line <= len(lines) else None


def tables_in(sql: str) -> set[str]:
    """Table names after FROM/JOIN/UPDATE/INTO, lower case, schema dropped."""
    out = set()
    for m in _TABLES.finditer(sql):
        name = m.group(1).replace('"', "").replace("`", "")
        out.add(name.rsplit(".", 1)[-1].lower())
    return out


@lru_cache(maxsize=512)
def _find(file: str, roots: tuple[Path, ...]) -> Path | None:
    p = Path(file)
    if p.is_absolute():
        if p.is_file():
            return p
        parts = p.parts[1:]
        # Recorded elsewhere: try the last few components under each root.
        for n in range(min(4, len(parts)), 0, -1):
            hit = _find(str(Path(*parts[-n:])), roots)
            if hit is not None:
                return hit
        return None
    for root in roots:
        candidate = root / p
        if candidate.is_file():
            return candidate
    for root in roots:
        for candidate in sorted(root.glob(f"*/{p}")):
            if candidate.is_file():
                return candidate
    return None


@lru_cache(maxsize=128)
def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


@lru_cache(maxsize=128)
def _parse(path: Path) -> ast.Module | None:
    try:
        return ast.parse("\n".join(_lines(path)), filename=str(path))
    except (SyntaxError, ValueError):
        return None


def _find_def(tree: ast.AST, names: list[str]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """A def by its qualified name; py-spy writes ``Class.method`` and plain ``function``."""
    if names == ["<module>"]:
        return None
    target = names[-1]
    owner = names[-2] if len(names) > 1 else None
    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and owner == node.name:
            for item in node.body:
                if isinstance(item, _DEFS) and item.name == target:
                    return item
        if isinstance(node, _DEFS) and node.name == target:
            best = best or node
    return best


def _statement_at(tree: ast.AST, line: int) -> ast.stmt | None:
    """The innermost statement spanning ``line``."""
    best: ast.stmt | None = None
    best_span = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and not isinstance(node, (*_DEFS, ast.ClassDef)):
            end = node.end_lineno or node.lineno
            span = end - node.lineno
            if node.lineno <= line <= end and (best is None or span < best_span):
                best, best_span = node, span
    return best


def _sql_strings(node: ast.AST) -> list[str]:
    out = []
    for n in ast.walk(node):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and _SQL_START.match(n.value):
            out.append(n.value)
    return out
