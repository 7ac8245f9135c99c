"""What every benchmark script shares: the machine description and progress lines."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys


def log(*parts: object) -> None:
    """Progress to stderr; stdout carries only the JSON result."""
    print(*parts, file=sys.stderr, flush=True)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, object]:
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }
