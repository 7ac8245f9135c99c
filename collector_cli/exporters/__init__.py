"""Export formats, one module each, looked up by the token users type (`--format csv`)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from collector_cli.errors import UsageError

if TYPE_CHECKING:
    from collector_cli.exporters.base import Exporter

# format token → (module, class, file extension)
FORMATS: dict[str, tuple[str, str, str]] = {
    "csv": ("collector_cli.exporters.csv_format", "CsvExporter", "csv"),
    "json": ("collector_cli.exporters.json_format", "JsonExporter", "json"),
    "jsonl": ("collector_cli.exporters.json_format", "JsonLinesExporter", "jsonl"),
    "text": ("collector_cli.exporters.text_format", "TextExporter", "txt"),
}


def exporter_class(name: str) -> type[Exporter]:
    try:
        module, cls, _ = FORMATS[name]
    except KeyError:
        raise UsageError(f"unknown format {name!r}: use one of {', '.join(FORMATS)}") from None
    return getattr(importlib.import_module(module), cls)


def extension(name: str) -> str:
    return FORMATS[name][2]
