"""No import cycles among the command modules or among the engine modules.

A cycle there used to be papered over with an import inside a function (cli/run.py ↔
cli/schedule.py, engine/runner.py ↔ engine/lifecycle.py), so the walk counts imports
anywhere in a module, functions and ``TYPE_CHECKING`` blocks included.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "collector_cli"
GROUPS = ("cli", "engine")


def _module(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imported(path: Path, known: set[str]) -> set[str]:
    """Every module of ``known`` that ``path`` imports, wherever the import statement is."""
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import mod`
    return found & known


def _graph(group: str) -> dict[str, set[str]]:
    paths = sorted((PACKAGE / group).glob("*.py"))
    known = {_module(p) for p in paths}
    return {_module(p): _imported(p, known) - {_module(p)} for p in paths}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path (first node repeated at the end), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_cycle_finder_finds_cycles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_walk_sees_imports_inside_functions() -> None:
    cli, engine = _graph("cli"), _graph("engine")
    assert "collector_cli.cli.run" in cli["collector_cli.cli.app"]  # inside _register()
    assert "collector_cli.cli.run" in cli["collector_cli.cli.schedule"]
    assert "collector_cli.engine.runner" in engine["collector_cli.engine.lifecycle"]
    assert "collector_cli.engine.resolve" in engine["collector_cli.engine.runner"]


def test_no_import_cycle_among_cli_modules() -> None:
    assert _cycle(_graph("cli")) is None


def test_no_import_cycle_among_engine_modules() -> None:
    assert _cycle(_graph("engine")) is None
