"""The bundled Amazon Best Sellers taxonomy (departments → categories with browse-node ids)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from collector_cli.errors import UsageError
from collector_cli.models import Category


@dataclass(frozen=True, slots=True)
class Department:
    id: str
    name: str
    node_id: str
    categories: tuple[Category, ...]


@cache
def departments() -> tuple[Department, ...]:
    raw = json.loads(
        resources.files("collector_cli").joinpath("data/amazon-categories.json").read_text("utf-8")
    )
    result = []
    for dep in raw["departments"]:
        cats = tuple(
            Category(
                id=c["id"],
                name=c["name"],
                node_id=str(c["node_id"]),
                department_id=dep["id"],
                department_name=dep["name"],
            )
            for c in dep["categories"]
        )
        result.append(Department(dep["id"], dep["name"], str(dep["node_id"]), cats))
    return tuple(result)


def department(dep_id: str) -> Department:
    for dep in departments():
        if dep.id == dep_id:
            return dep
    raise UsageError(
        f"unknown department {dep_id!r} (see `collector categories` for the valid ids)"
    )


def category(cat_id: str) -> Category:
    for dep in departments():
        for cat in dep.categories:
            if cat.id == cat_id:
                return cat
    raise UsageError(f"unknown category {cat_id!r} (see `collector categories` for the valid ids)")


def expand(department_ids: list[str], category_ids: list[str]) -> list[Category]:
    """Departments stand for all their categories; duplicates are dropped, order kept."""
    seen: dict[str, Category] = {}
    for dep_id in department_ids:
        for cat in department(dep_id).categories:
            seen.setdefault(cat.id, cat)
    for cat_id in category_ids:
        cat = category(cat_id)
        seen.setdefault(cat.id, cat)
    return list(seen.values())
