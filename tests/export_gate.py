"""The real CLI with one pause in it: an export that stops after its first rows until released.

``python -m tests.export_gate DIR ARGS…`` runs ``collector ARGS…`` unchanged, except that the
export, once it has written ROWS_BEFORE_PAUSE rows and flushed them, creates ``DIR/reached``
and waits until ``DIR/release`` exists. A test can then interrupt the export at a known point,
mid-file, however fast or slow the machine is, instead of hoping a signal lands before the
export ends. The pause is an ordinary ``time.sleep`` loop, so a signal arrives exactly as it
would during a write.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROWS_BEFORE_PAUSE = 1000


def install(gate_dir: Path) -> None:
    from collector_cli.cli import export

    reached, release = gate_dir / "reached", gate_dir / "release"
    real_write = export._Destination.write
    writes = 0

    def write(self: export._Destination, text: str) -> int:
        nonlocal writes
        written = real_write(self, text)
        writes += 1
        if writes == ROWS_BEFORE_PAUSE:
            assert self.stream is not None
            self.stream.flush()
            reached.write_text("paused\n", encoding="utf-8")
            while not release.exists():
                time.sleep(0.01)
        return written

    export._Destination.write = write  # type: ignore[method-assign]


if __name__ == "__main__":
    install(Path(sys.argv[1]))
    sys.argv = ["collector", *sys.argv[2:]]
    from collector_cli.cli.app import main

    main()
