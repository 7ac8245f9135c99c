"""DESIGN §2 import rules, enforced by walking every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "collector_cli"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _violations(rule) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in sorted(_imports(path)):
            if rule(_layer(path), name):
                found.append(f"{path.relative_to(PACKAGE)} imports {name}")
    return found


def test_layer_walk_sees_the_package() -> None:
    layers = {_layer(p) for p in PACKAGE.rglob("*.py")}
    assert {"cli", "ui", "engine", "sources", "store"} <= layers


def test_only_cli_imports_typer() -> None:
    assert _violations(lambda layer, name: name.split(".")[0] == "typer" and layer != "cli") == []


def test_only_cli_and_ui_import_rich() -> None:
    assert (
        _violations(lambda layer, name: name.split(".")[0] == "rich" and layer not in ("cli", "ui"))
        == []
    )


def test_sources_know_neither_store_nor_cli_nor_engine() -> None:
    forbidden = (
        "collector_cli.store",
        "collector_cli.cli",
        "collector_cli.engine",
        "collector_cli.ui",
    )
    assert _violations(lambda layer, name: layer == "sources" and name.startswith(forbidden)) == []


def test_store_and_engine_do_not_reach_up() -> None:
    upward = ("collector_cli.cli", "collector_cli.ui")
    assert (
        _violations(lambda layer, name: layer in ("store", "engine") and name.startswith(upward))
        == []
    )


def test_engine_never_prints() -> None:
    offenders = []
    for path in sorted((PACKAGE / "engine").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_sql_lives_in_the_store() -> None:
    """Commands, engine and sources never execute SQL themselves."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if _layer(path) == "store":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("execute", "executemany"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []
