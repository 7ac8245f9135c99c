"""Text: one seller name per line (names with line breaks are written with them escaped)."""

from __future__ import annotations

from typing import Any

from collector_cli.exporters.base import Exporter, LineFormat, TextRule


class TextExporter(Exporter):
    def write(self, seller: dict[str, Any]) -> None:
        name = str(seller["name"]).replace("\r", "\\r").replace("\n", "\\n")
        self.out.write(name + "\n")

    def line_format(self) -> LineFormat:
        """``write`` as data: the name only (whatever --fields says), through ``str``."""
        return LineFormat(
            fields=("name",),
            text=TextRule(escapes=(("\r", "\\r"), ("\n", "\\n"))),
            null="None",
            true="True",
            false="False",
            separator="",
        )
