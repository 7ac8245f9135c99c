"""JSON (one document) and JSON Lines (one object per line), both written as rows arrive."""

from __future__ import annotations

import json
from typing import Any

from collector_cli.exporters.base import Exporter, LineFormat, TextRule

# json.dumps(..., ensure_ascii=False): its escapes for text; separators ", " and ": ".
_JSON_TEXT = TextRule(json_string=True)


def _pick(seller: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {name: seller[name] for name in fields}


def _object_format(fields: list[str], start: str, end: str) -> LineFormat:
    """The object ``json.dumps(_pick(seller, fields), ensure_ascii=False)`` writes: a field
    named twice is one key, at its first place (a dict's keys are unique)."""
    unique = tuple(dict.fromkeys(fields))
    return LineFormat(
        fields=unique,
        text=_JSON_TEXT,
        null="null",
        labels=tuple(json.dumps(name, ensure_ascii=False) + ": " for name in unique),
        start=start + "{",
        separator=", ",
        end="}" + end,
    )


class JsonExporter(Exporter):
    """``{"exported_at", "filters", "count", "sellers": [...]}``; the array is streamed."""

    def begin(self, meta: dict[str, Any]) -> None:
        head = json.dumps(
            {
                "exported_at": meta["exported_at"],
                "filters": meta["filters"],
                "count": meta["count"],
            },
            ensure_ascii=False,
        )
        self.out.write(head[:-1] + ', "sellers": [')
        self._first = True

    def write(self, seller: dict[str, Any]) -> None:
        self.out.write(
            ("\n  " if self._first else ",\n  ")
            + json.dumps(_pick(seller, self.fields), ensure_ascii=False)
        )
        self._first = False

    def end(self) -> None:
        self.out.write("\n]}\n" if not self._first else "]}\n")

    def line_format(self) -> LineFormat:
        """Every line starts with the comma that follows the object before it;
        ``write_lines`` drops it from the first object of the array."""
        return _object_format(self.fields, ",\n  ", "")

    def write_lines(self, block: bytes) -> None:
        if block and self._first:
            block = block[1:]
            self._first = False
        self.out.write(block)  # type: ignore[arg-type]


class JsonLinesExporter(Exporter):
    def write(self, seller: dict[str, Any]) -> None:
        self.out.write(json.dumps(_pick(seller, self.fields), ensure_ascii=False) + "\n")

    def line_format(self) -> LineFormat:
        return _object_format(self.fields, "", "\n")
