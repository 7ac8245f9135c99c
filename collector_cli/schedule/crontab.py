"""Our lines in the user's crontab: one per schedule, found again by a marker comment.

python-crontab validates and renders the time fields, but the table itself is edited as text:
python-crontab re-renders every job it parses (spacing, the position of a leading comment), and
lines that are not ours must stay byte-identical. Every write first saves the previous table.

Where the table lives: the invoking user's crontab through the ``crontab`` command, or the file
named by ``COLLECTOR_CRONTAB`` (tests, or a system that reads tab files).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from collector_cli.errors import CollectorError, UsageError
from collector_cli.schedule import cron

if TYPE_CHECKING:
    from collector_cli.store.schedules import Schedule

MARKER = "collector-schedule:"
# The marker names the store (a hash of its path) and the schedule id, so two stores that share
# one crontab (a test database and the real one) never take each other's lines for their own.
_MARKER_RE = re.compile(r"#\s*" + re.escape(MARKER) + r"([0-9a-f]{8}):(\d+)\s*$")
BACKUPS_KEPT = 10
EVERY_MINUTE = "* * * * *"


class CrontabError(CollectorError):
    """The crontab cannot be read or written (no cron installed, a refusing crontab command)."""


@dataclass(frozen=True, slots=True)
class Drift:
    schedule_id: int
    change: str  # "added", "updated", "removed"


def state_dir() -> Path:
    from platformdirs import user_state_path

    return user_state_path("collector", appauthor=False)


def command_env() -> tuple[str, str]:
    """The interpreter and config file of this invocation, recorded with a schedule at `add`
    so later commands (run from another shell) write the same line.

    The config file is pinned however it was found (``COLLECTOR_CONFIG``, ``XDG_CONFIG_HOME``
    or the default), and even before it exists: cron passes on neither variable, so a line
    without the pin would read another file, without the credentials or notify URLs.
    """
    from collector_cli import config

    return sys.executable, str(config.locate().path)


def store_key(db_path: Path) -> str:
    import hashlib

    return hashlib.blake2b(str(db_path.resolve()).encode(), digest_size=4).hexdigest()


def log_path(schedule_id: int, db_path: Path) -> Path:
    from platformdirs import user_log_path

    name = f"schedule-{store_key(db_path)}-{schedule_id}.log"
    return user_log_path("collector", appauthor=False) / name


def _cron_quote(text: str) -> str:
    """Shell-quoted, with each '%' outside the quotes and escaped (cron turns a bare '%' into
    a newline, and a backslash inside quotes would stay literal); a line break cannot be
    written into a crontab line at all."""
    if "\n" in text or "\r" in text:
        raise UsageError(f"cannot schedule with a line break in {text!r}: rename the path")
    return shlex.quote(text).replace("%", "'\\%'")


def render_line(
    schedule_id: int,
    expression: str,
    tz: str,
    db_path: Path,
    python: str,
    config_path: str | None,
) -> str:
    """The whole crontab line for a schedule: absolute interpreter and DB paths, output to a
    per-schedule log, no secret (scheduled runs read credentials from the config file).

    A schedule in another time zone than the machine's fires every minute and lets
    `run --schedule` decide, since Debian's cron has no per-line time zone.
    """
    from crontab import CronSlices

    timing = expression if cron.is_cron_zone(tz) else EVERY_MINUTE
    if not CronSlices.is_valid(timing):
        raise UsageError(f"python-crontab refuses the time fields {timing!r}")
    env = f"COLLECTOR_CONFIG={_cron_quote(config_path)} " if config_path else ""
    log = log_path(schedule_id, db_path)
    command = " ".join(
        _cron_quote(part)
        for part in (python, "-m", "collector_cli", "--db", str(db_path.resolve()),
                     "run", "--schedule", str(schedule_id))
    )  # fmt: skip
    marker = f"{MARKER}{store_key(db_path)}:{schedule_id}"
    return f"{timing} {env}{command} >> {_cron_quote(str(log))} 2>&1 # {marker}"


def schedule_line(schedule: Schedule, db_path: Path) -> str:
    """The line ``schedule`` should have: what `sync` writes and `list`/`doctor` compare."""
    return render_line(schedule.id, schedule.cron, schedule.timezone, db_path,
                       schedule.python, schedule.config_path)  # fmt: skip


def wanted_lines(schedules: list[Schedule], db_path: Path) -> dict[int, str]:
    """schedule id → line, for the enabled ones (a disabled schedule has no line)."""
    return {s.id: schedule_line(s, db_path) for s in schedules if s.enabled}


class Crontab:
    """Read and write the table as text; ours are the lines that end with this store's marker."""

    def __init__(self, db_path: Path) -> None:
        self.key = store_key(db_path)
        path = os.environ.get("COLLECTOR_CRONTAB")
        self.file = Path(path).expanduser() if path else None
        if self.file is None and shutil.which("crontab") is None:
            raise CrontabError(
                "no `crontab` command: install cron (Debian/Ubuntu: apt-get install cron) or set"
                " COLLECTOR_CRONTAB to a crontab file"
            )

    @property
    def where(self) -> str:
        return str(self.file) if self.file else "your crontab (crontab -l)"

    def read(self) -> str:
        if self.file is not None:
            try:  # a foreign line in another encoding goes back out byte for byte
                return self.file.read_text(encoding="utf-8", errors="surrogateescape")
            except FileNotFoundError:
                return ""
            except OSError as exc:
                raise CrontabError(f"cannot read {self.file}: {exc.strerror}") from None
        result = subprocess.run(["crontab", "-l"], capture_output=True, text=True,
                                errors="surrogateescape")  # fmt: skip
        if result.returncode != 0:
            if "no crontab" in result.stderr.lower():
                return ""
            raise CrontabError(f"crontab -l failed: {result.stderr.strip() or result.returncode}")
        return result.stdout

    def write(self, text: str, previous: str) -> None:
        self._backup(previous)
        if self.file is not None:
            tmp = self.file.with_name(f".{self.file.name}.tmp")
            try:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text(text, encoding="utf-8", errors="surrogateescape")
                os.replace(tmp, self.file)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise CrontabError(f"cannot write {self.file}: {exc.strerror}") from None
            return
        result = subprocess.run(["crontab", "-"], input=text, capture_output=True, text=True,
                                errors="surrogateescape")  # fmt: skip
        if result.returncode != 0:
            raise CrontabError(f"crontab refused the new table: {result.stderr.strip()}")

    def _backup(self, previous: str) -> None:
        folder = state_dir() / "crontab-backups"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        (folder / f"crontab-{stamp}.txt").write_text(
            previous, encoding="utf-8", errors="surrogateescape"
        )
        for old in sorted(folder.glob("crontab-*.txt"))[:-BACKUPS_KEPT]:
            old.unlink(missing_ok=True)

    def ours(self, text: str | None = None) -> dict[int, str]:
        """schedule id → its line as it stands in the table now."""
        found = {}
        for line in (self.read() if text is None else text).splitlines():
            schedule_id = self._id(line)
            if schedule_id is not None:
                found[schedule_id] = line
        return found

    def _id(self, line: str) -> int | None:
        match = _MARKER_RE.search(line)
        return int(match.group(2)) if match and match.group(1) == self.key else None

    def drift(self, wanted: dict[int, str], text: str | None = None) -> list[Drift]:
        """What `apply` would change, without writing (`doctor`, `schedule list`)."""
        text = self.read() if text is None else text
        current = self.ours(text)
        changes = [Drift(i, "removed") for i in sorted(set(current) - set(wanted))]
        changes += [Drift(i, "added") for i in sorted(set(wanted) - set(current))]
        changes += [Drift(i, "updated") for i in sorted(set(wanted) & set(current))
                    if current[i] != wanted[i]]  # fmt: skip
        counts: dict[int, int] = {}
        for line in text.splitlines():
            schedule_id = self._id(line)
            if schedule_id is not None:
                counts[schedule_id] = counts.get(schedule_id, 0) + 1
        changes += [Drift(i, "deduplicated") for i, n in sorted(counts.items())
                    if n > 1 and i in wanted and current[i] == wanted[i]]  # fmt: skip
        return sorted(changes, key=lambda d: d.schedule_id)

    def apply(self, wanted: dict[int, str]) -> list[Drift]:
        """Make our lines exactly ``wanted`` (id → line); other lines stay byte-identical.

        Writes only when something differs, so running it again changes nothing.
        """
        text = self.read()
        changes = self.drift(wanted, text)
        if not changes:
            return []
        kept = [line for line in text.splitlines(keepends=True) if self._id(line) is None]
        if kept and not kept[-1].endswith("\n"):
            kept[-1] += "\n"
        new = "".join(kept) + "".join(wanted[i] + "\n" for i in sorted(wanted))
        self.write(new, text)
        return changes
