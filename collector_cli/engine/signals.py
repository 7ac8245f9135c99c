"""Ctrl-C and SIGTERM for a run, from before its row exists until the process exits."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

from collector_cli.errors import ExitCode

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Python-level SIGINT/SIGTERM handlers installed before the run is created.

    Installing them first means no signal is lost in the gap between creating the run row and
    the engine's event loop: a stop that arrives early is kept and honoured as soon as the
    engine starts. The first signal asks for a clean stop; the next one exits at once with
    130 (the store stays consistent: every commit is one transaction).
    """

    def __init__(self) -> None:
        self.reason: str | None = None
        self._listener: Callable[[str], None] | None = None
        self._on_abort: Callable[[], None] | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        self._previous = {sig: signal.signal(sig, self._handle) for sig in SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        # On the way out after a stop, a late Ctrl-C must not turn exit 130 into a death by
        # signal while the interpreter shuts down: ignore it (one atomic swap per signal).
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_IGN if self.reason else handler)

    def listen(self, listener: Callable[[str], None], on_abort: Callable[[], None]) -> None:
        """Deliver stop requests to ``listener`` (thread-safe), replaying an early one."""
        self._listener, self._on_abort = listener, on_abort
        if self.reason is not None:
            listener(self.reason)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.reason is not None:
            if self._on_abort is not None:
                self._on_abort()
            os._exit(ExitCode.CANCELLED)
        self.reason = f"cancelled ({signal.Signals(signum).name})"
        if self._listener is not None:
            self._listener(self.reason)
