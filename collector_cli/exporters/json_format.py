"""JSON (one document) and JSON Lines (one object per line), both written as rows arrive."""

from __future__ import annotations

import json
from typing import Any

from collector_cli.exporters.base import Exporter


def _pick(seller: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {name: seller[name] for name in fields}


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


class JsonLinesExporter(Exporter):
    def write(self, seller: dict[str, Any]) -> None:
        self.out.write(json.dumps(_pick(seller, self.fields), ensure_ascii=False) + "\n")
