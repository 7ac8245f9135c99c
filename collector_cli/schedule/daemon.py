"""Is a cron daemon running? A crontab line that is "current" does nothing without one.

Cheap checks, in order: the daemon's pid file (Debian's cron and cronie write
``/run/crond.pid``), naming a live process whose name is a cron daemon's (a pid file left by a
daemon that died, its pid since reused, does not count); then the process table (psutil) for a
process with such a name. Both look at this process's own view of the machine (its mount
namespace's /run and /proc), so in a container, or in the tests' private cron namespace, the
answer is about the cron that would read this crontab.

Not detected: cron replaced by systemd timers (systemd-cron), which runs no daemon process; that
case is reported as "no cron daemon running", which is what the user should check anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PID_FILES = (
    Path("/run/crond.pid"),  # Debian/Ubuntu cron, cronie (Fedora, Arch)
    Path("/var/run/crond.pid"),  # the same on systems where /var/run is not a link to /run
    Path("/run/cron.pid"),
    Path("/var/run/cron.pid"),
)
# Process names of cron daemons: Debian's and macOS's cron, cronie/dcron/busybox crond, fcron.
DAEMON_NAMES = frozenset({"cron", "crond", "cronie", "fcron"})
START_HINT = (
    "start it (Debian/Ubuntu: sudo systemctl start cron, or sudo service cron start;"
    " Fedora/Arch: sudo systemctl start crond)"
)


@dataclass(frozen=True, slots=True)
class CronDaemon:
    running: bool
    pid: int | None = None
    found_by: str = ""  # "pid file /run/crond.pid" or "process list"

    def describe(self) -> str:
        if self.running:
            return f"cron daemon running (pid {self.pid}, found by {self.found_by})"
        return "no cron daemon running"


def find_cron_daemon() -> CronDaemon:
    """The cron daemon this machine (this namespace) runs, if any."""
    import psutil

    for pid_file in PID_FILES:
        pid = _read_pid(pid_file)
        if pid is not None and _is_daemon(psutil, pid):
            return CronDaemon(True, pid, f"pid file {pid_file}")
    for proc in psutil.process_iter(["name", "status"]):
        info = proc.info
        if info.get("name") in DAEMON_NAMES and info.get("status") != psutil.STATUS_ZOMBIE:
            return CronDaemon(True, proc.pid, "process list")
    return CronDaemon(False)


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def _is_daemon(psutil, pid: int) -> bool:  # type: ignore[no-untyped-def]
    try:
        proc = psutil.Process(pid)
        return proc.name() in DAEMON_NAMES and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
