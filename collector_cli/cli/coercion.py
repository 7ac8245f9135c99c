"""Cheap conversion of plain option values, so a command does not pay for pydantic.

typer 0.29 builds a pydantic TypeAdapter to convert every non-bool parameter, which imports
pydantic: about 55 ms of the 160 ms that `collector history` took (bench/bench_startup.py).
Options that are plainly ``str``, ``int``, ``float``, ``Path`` or flags (no range, no
choices, no path checks) are converted here the way typer would; everything else keeps
typer's own path, so ranged ids, choices and files are validated exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer import _coercion, core  # private modules of typer 0.29: see install()

_PLAIN = (str, int, float, Path, bool)


@dataclass(frozen=True)
class _PlainRuntimeParam(_coercion.RuntimeParam):
    annotation: Any
    parameter_info: Any

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        kind = self.annotation
        if kind is bool:  # flags arrive as bools already; anything else is not a flag value
            if isinstance(value, bool):
                return value
            raise _coercion.BadParameter(f"{value!r} is not a flag value", ctx=ctx, param=param)
        if isinstance(value, kind) and not isinstance(value, bool):
            return value
        try:
            return kind(value)
        except (TypeError, ValueError):
            label = {int: "an integer", float: "a number"}.get(kind, kind.__name__)
            raise _coercion.BadParameter(
                f"{value!r} is not {label}", ctx=ctx, param=param
            ) from None


def _plain(descriptor: Any) -> bool:
    info = descriptor.parameter_info
    if descriptor.annotation not in _PLAIN or descriptor.file_annotation is not None:
        return False
    if descriptor.is_ranged or descriptor.is_choice:
        return False
    path_checks = ("exists", "resolve_path", "allow_dash", "path_type", "writable")
    if descriptor.annotation is Path and any(getattr(info, k, None) for k in path_checks):
        return False
    return getattr(info, "parser", None) is None and getattr(info, "click_type", None) is None


def install() -> None:
    """Wrap typer's lazy runtime-parameter builder; idempotent. A typer whose internals differ
    keeps its own conversion: only start-up time is at stake here, never behaviour."""
    original = getattr(getattr(core, "_TyperParameter", None), "get_runtime_param", None)
    if original is None or not hasattr(_coercion, "RuntimeParam"):
        return
    if getattr(original, "_collector_plain", False):
        return

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None and _plain(self.type_descriptor):
            descriptor = self.type_descriptor
            self._runtime_param = _PlainRuntimeParam(
                annotation=descriptor.annotation, parameter_info=descriptor.parameter_info
            )
        return original(self)

    get_runtime_param._collector_plain = True  # type: ignore[attr-defined]
    core._TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
