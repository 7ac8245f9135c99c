"""One error family for the whole tool.

Every layer raises a ``CollectorError`` subclass; the CLI turns it into one line on stderr and
the subclass's exit code, so the mapping from failure to exit status lives in one place.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit codes (README, ``collector --help``)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NOT_FOUND = 3
    DATABASE = 4
    PARTIAL = 5  # run completed, but some products or categories failed
    LIMIT = 6  # run ended early by a limit (--max-requests, --max-duration, …)
    RUN_ACTIVE = 7  # another run is active in this store (or --wait timed out)
    NOTHING_RUNNING = 8  # stop / watch found no active run
    CANCELLED = 130


class CollectorError(Exception):
    exit_code: ExitCode = ExitCode.ERROR


class UsageError(CollectorError):
    """Bad input from the user: a name, a value, an option combination."""

    exit_code = ExitCode.USAGE


class NotFoundError(CollectorError):
    """The user named something (a preset, a run) that the store does not hold."""

    exit_code = ExitCode.NOT_FOUND


class StoreError(CollectorError):
    """The database file cannot be opened, created, read or written."""

    exit_code = ExitCode.DATABASE


class ConfigError(CollectorError):
    exit_code = ExitCode.USAGE


class SourceError(CollectorError):
    """A source could not answer.

    ``retryable``: trying the same call again may help (429, 5xx, timeouts, a captcha page).
    ``retry_after``: seconds the server asked us to wait, when it said so.
    ``fatal``: no call to this source can succeed now (credentials rejected, daily quota
    used up), so the whole run ends instead of failing product after product.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable and not fatal
        self.retry_after = retry_after
        self.fatal = fatal


class RunActiveError(CollectorError):
    """Another run holds the store's single 'running' slot."""

    exit_code = ExitCode.RUN_ACTIVE

    def __init__(self, message: str, active_run_id: int | None = None) -> None:
        super().__init__(message)
        self.active_run_id = active_run_id


class NothingRunningError(CollectorError):
    exit_code = ExitCode.NOTHING_RUNNING
