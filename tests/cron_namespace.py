"""A private cron world for tests: its own spool, /run and cron daemon, in mount + pid namespaces.

Why: the real ``crontab`` command edits the invoking user's table in /var/spool/cron/crontabs, and
a cron daemon started by a test would otherwise be the machine's (or meet the machine's lock in
/run/crond.pid). Tests of the real command and the real daemon therefore run them inside a mount
namespace in which private directories under the test's tmp_path are bind-mounted over

- /var/spool/cron/crontabs (owner, group and mode copied, so Debian's ``crontab`` accepts it),
- /run (cron's pid file /run/crond.pid and its reboot marker; /var/run points there),
- /etc/crontab and /etc/cron.d (empty), so a daemon started inside runs nothing but the private
  spool's jobs, never the machine's hourly/daily scripts,

and a pid namespace whose init is ``cat`` reading a pipe from the test process. The mounts exist
only in that namespace (propagation private), so nothing of them is ever seen by the host. When
the test process dies, even by SIGKILL, the pipe's last writer is gone, ``cat`` sees EOF and
exits, and the kernel kills every process left in the pid namespace (a cron daemon, a job it
started, a half-done ``crontab``). ``unshare --kill-child`` does the same if ``unshare`` itself is
killed. The mount namespace disappears with its last process.

Commands enter with ``nsenter --target <init's host pid> --mount --pid``, and every one of them
first checks, inside, that /var/spool/cron/crontabs and /run are the private directories (same
device and inode): should the init ever be gone and its pid reused by a host process, the command
refuses instead of touching the real table.

Setup failures are test failures that say what is missing: these tests must never fall back to
the real table and never skip.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

SPOOL = Path("/var/spool/cron/crontabs")  # Debian's crontab spool (mode 1730, group crontab)
# cron writes /var/run/crond.pid; on Debian /var/run is a symlink to /run, which is what we hide.
RUN = Path(os.path.realpath("/var/run"))
SYSTEM_CRONTAB = Path("/etc/crontab")
SYSTEM_CRON_D = Path("/etc/cron.d")
# Tools are looked up here, never on the test's PATH (which holds guards and wrappers).
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOOL_ENV = {"PATH": SYSTEM_PATH, "LC_ALL": "C"}  # for unshare/nsenter and what runs inside
INSTALL_HINT = (
    "Install cron and util-linux (Debian/Ubuntu: apt-get install cron util-linux, as .ci/run"
    " does) and run the tests as root. These tests never fall back to the real crontab."
)
REFUSED = 98  # exit status of a command that found itself outside the private namespace
READY = b"cron-namespace-ready\n"
SETUP_TIMEOUT = 30.0
TEARDOWN_TIMEOUT = 30.0

# pid 1 of the namespace: mount the private directories, report, then live exactly as long as
# the test's end of the stdin pipe stays open.
_INIT_SCRIPT = """set -e
mount=$1; shift
bind() {
  "$mount" --bind "$1" "$2" || { echo "mount --bind $1 $2 failed" >&2; exit 1; }
}
bind "$1" "$2"
bind "$3" "$4"
if [ -n "$6" ]; then bind "$5" "$6"; fi
if [ -n "$8" ]; then bind "$7" "$8"; fi
printf 'cron-namespace-ready\\n'
exec "$9" >/dev/null
"""

# Run by every command entering the namespace, before anything else.
_GUARD_SCRIPT = f"""stat=$1; spool=$2; run=$3; shift 3
if [ "$("$stat" -c %d:%i {SPOOL})" != "$spool" ] \\
    || [ "$("$stat" -c %d:%i {RUN})" != "$run" ]; then
  echo "cron_namespace: refusing to run $1 outside the test's private cron namespace" >&2
  exit {REFUSED}
fi
exec "$@"
"""


def fail(problem: str) -> NoReturn:
    pytest.fail(f"cannot isolate cron for this test: {problem}. {INSTALL_HINT}", pytrace=False)


def system_tool(name: str, *fallbacks: str) -> str | None:
    found = shutil.which(name, path=SYSTEM_PATH)
    return found or next((f for f in fallbacks if os.access(f, os.X_OK)), None)


def identity(path: Path) -> str:
    """device:inode as ``stat -c %d:%i`` prints it: what the in-namespace guard compares."""
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


# -- processes, seen from the host -------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # [state, ppid, ...]; comm may hold spaces


def host_pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def running(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie is dead, only not reaped yet)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def namespace_of(pid: int, kind: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def pids_in_namespace(kind: str, name: str) -> list[int]:
    """Host pids of the live processes in the namespace ``name`` (e.g. 'pid:[4026532]')."""
    return sorted(p for p in host_pids() if namespace_of(p, kind) == name and running(p))


def namespace_processes(pid_ns: str, mnt_ns: str) -> list[int]:
    """Live processes in the pid or mount namespace, or forking into the pid namespace."""
    return sorted(
        set(pids_in_namespace("pid", pid_ns))
        | set(pids_in_namespace("pid_for_children", pid_ns))
        | set(pids_in_namespace("mnt", mnt_ns))
    )


def comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def describe(pids: Sequence[int]) -> str:
    out = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            cmdline = "(gone)"
        out.append(f"{pid} {cmdline.strip() or comm(pid)}")
    return "; ".join(out) or "(none)"


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``check`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# -- the namespace -----------------------------------------------------------------------------


@dataclass
class CronNamespace:
    """A running private namespace; the host paths of its spool and /run, and how to enter."""

    root: Path
    spool: Path  # host path of the private /var/spool/cron/crontabs
    run_dir: Path  # host path of the private /run
    init_pid: int  # host pid of the namespace's pid 1
    pid_ns: str
    mnt_ns: str
    crontab_binary: str
    _unshare: subprocess.Popen[bytes]
    _nsenter: list[str] = field(default_factory=list)
    _guard: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, root: Path) -> CronNamespace:
        if os.geteuid() != 0:
            fail(f"the tests run as uid {os.geteuid()}, not root (mount namespaces need root)")
        tools = {
            "unshare": system_tool("unshare"),
            "nsenter": system_tool("nsenter"),
            "mount": system_tool("mount"),
            "crontab": system_tool("crontab"),
            "sh": system_tool("sh"),
            "stat": system_tool("stat"),
            "cat": system_tool("cat"),
        }
        missing = [name for name, path in tools.items() if path is None]
        if missing:
            fail("no " + ", ".join(f"`{name}`" for name in missing) + f" in {SYSTEM_PATH}")
        if not SPOOL.is_dir():
            fail(f"there is no {SPOOL} (Debian's crontab spool) to hide behind a private one")
        if not RUN.is_dir():
            fail(f"/var/run resolves to {RUN}, which is not a directory")

        root.mkdir(parents=True, exist_ok=True)
        spool, run_dir = root / "crontabs", root / "run"
        spool.mkdir()
        run_dir.mkdir()
        real = SPOOL.stat()  # metadata only: crontab checks the spool's group and mode
        os.chown(spool, real.st_uid, real.st_gid)
        os.chmod(spool, real.st_mode & 0o7777)
        masks = ["", "", "", ""]  # empty stand-ins for the machine's system crontabs
        if SYSTEM_CRONTAB.is_file():
            (root / "etc-crontab").write_text("", encoding="utf-8")
            masks[0:2] = [str(root / "etc-crontab"), str(SYSTEM_CRONTAB)]
        if SYSTEM_CRON_D.is_dir():
            (root / "etc-cron.d").mkdir()
            masks[2:4] = [str(root / "etc-cron.d"), str(SYSTEM_CRON_D)]

        argv = [
            tools["unshare"], "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
            "--propagation", "private", "--", tools["sh"], "-c", _INIT_SCRIPT, "cron-namespace",
            tools["mount"], str(spool), str(SPOOL), str(run_dir), str(RUN), *masks, tools["cat"],
        ]  # fmt: skip
        # Its own session: a signal to the test's process group does not reach it; the pipe
        # (and --kill-child) end it when the test process goes.
        unshare = subprocess.Popen(
            argv,  # type: ignore[arg-type]
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(TOOL_ENV),
            start_new_session=True,
        )
        try:
            return cls._attach(root, spool, run_dir, unshare, tools)  # type: ignore[arg-type]
        except BaseException:
            _stop(unshare)
            raise

    @classmethod
    def _attach(
        cls,
        root: Path,
        spool: Path,
        run_dir: Path,
        unshare: subprocess.Popen[bytes],
        tools: dict[str, str],
    ) -> CronNamespace:
        assert unshare.stdout is not None and unshare.stderr is not None
        fd, got = unshare.stdout.fileno(), b""
        deadline = time.monotonic() + SETUP_TIMEOUT
        while not got.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 256) if ready else b""
            if ready and not chunk:
                break  # EOF: the init script failed
            got += chunk
        if got != READY:
            _stop(unshare)
            errors = unshare.stderr.read().decode(errors="replace").strip()
            fail(
                f"`unshare --mount --pid` or a bind mount failed (exit {unshare.returncode},"
                f" output {got!r}): {errors or '(no message)'}"
            )

        children = [p for p in host_pids() if (_stat_fields(p) or ["", ""])[1] == str(unshare.pid)]
        if len(children) != 1:
            fail(f"cannot find the namespace's init among unshare's children {children}")
        [init_pid] = children
        status = Path(f"/proc/{init_pid}/status").read_text(encoding="utf-8")
        nspid = next((ln.split()[1:] for ln in status.splitlines() if ln.startswith("NSpid:")), [])
        pid_ns, mnt_ns = namespace_of(init_pid, "pid"), namespace_of(init_pid, "mnt")
        if nspid[-1:] != ["1"] or pid_ns is None or mnt_ns is None:
            fail(f"process {init_pid} is not pid 1 of a new pid namespace (NSpid {nspid})")
        if pid_ns == namespace_of(os.getpid(), "pid") or mnt_ns == namespace_of(os.getpid(), "mnt"):
            fail("unshare did not create new pid and mount namespaces")

        ns = cls(
            root=root,
            spool=spool,
            run_dir=run_dir,
            init_pid=init_pid,
            pid_ns=pid_ns,
            mnt_ns=mnt_ns,
            crontab_binary=tools["crontab"],
            _unshare=unshare,
        )
        ns._guard = [
            tools["sh"], "-c", _GUARD_SCRIPT, "cron-namespace-guard",
            tools["stat"], identity(spool), identity(run_dir),
        ]  # fmt: skip
        ns._nsenter = [tools["nsenter"], "--target", str(init_pid), "--mount", "--pid", "--"]
        ns._check_mounts()
        info = {
            "init_pid": init_pid,
            "unshare_pid": unshare.pid,
            "pid_ns": pid_ns,
            "mnt_ns": mnt_ns,
            "spool": str(spool),
            "run": str(run_dir),
        }
        # For whoever watches from outside (tests/test_cron_isolation.py): written whole or not.
        tmp = root / ".namespace.json.tmp"
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, root / "namespace.json")
        return ns

    def _check_mounts(self) -> None:
        """Before any crontab command: inside, the spool and /run are ours, and the host's are
        not (a sentinel file written here is listed inside and absent on the host)."""
        token = f".cron-namespace-sentinel-{secrets.token_hex(8)}"
        sentinels = [self.spool / token, self.run_dir / token]
        for sentinel in sentinels:
            sentinel.write_text("", encoding="utf-8")
        try:
            for inside in (SPOOL, Path("/var/run"), RUN):
                listing = self.run(["ls", "-a", str(inside)])
                if listing.returncode != 0 or token not in listing.stdout.split():
                    fail(
                        f"inside the namespace {inside} is not the private directory"
                        f" (exit {listing.returncode}): {listing.stdout}{listing.stderr}"
                    )
            system = self.run(["cat", str(SYSTEM_CRONTAB)]) if SYSTEM_CRONTAB.is_file() else None
            if system is not None and (system.returncode != 0 or system.stdout):
                fail(f"inside the namespace {SYSTEM_CRONTAB} is not the empty stand-in")
            for host in (SPOOL / token, RUN / token):
                if os.path.lexists(host):
                    fail(f"the private directory leaked onto the host: {host} exists")
        finally:
            for sentinel in sentinels:
                sentinel.unlink(missing_ok=True)

    # -- entering ------------------------------------------------------------------------------

    def guarded(self, argv: Sequence[str]) -> list[str]:
        """argv behind the check that /var/spool/cron/crontabs and /run are the private ones:
        run anywhere else (the host, or a process that took over a dead init's pid), it exits
        with status 98 and never starts argv."""
        return [*self._guard, *argv]

    def command(self, argv: Sequence[str]) -> list[str]:
        """argv run inside the namespace (after the guard's check)."""
        return [*self._nsenter, *self.guarded(argv)]

    def run(
        self, argv: Sequence[str], input: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(argv), input=input, capture_output=True, text=True, timeout=timeout,
            env=dict(TOOL_ENV),
        )  # fmt: skip

    def popen(self, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """A long-running command inside (its own session; the namespace's end kills it)."""
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            self.command(argv),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=dict(TOOL_ENV),
            **kwargs,
        )

    def crontab(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """The real crontab command, inside: it reads and writes the private spool only."""
        return self.run([self.crontab_binary, *args], input=input)

    def write_wrapper(self, folder: Path) -> Path:
        """A ``crontab`` script for PATH that runs the real one inside this namespace."""
        folder.mkdir(parents=True, exist_ok=True)
        wrapper = folder / "crontab"
        wrapper.write_text(
            "#!/bin/sh\n"
            "# Written by the cron_namespace test fixture: the real crontab, but inside the\n"
            "# test's private mount + pid namespace, whose spool is a directory under tmp_path.\n"
            f'exec {shlex.join(self.command([self.crontab_binary]))} "$@"\n',
            encoding="utf-8",
        )
        wrapper.chmod(0o755)
        return wrapper

    def processes(self) -> list[int]:
        """Host pids of the live processes in the namespace (init included), and of those that
        entered it (nsenter after setns sits in its mount namespace)."""
        return namespace_processes(self.pid_ns, self.mnt_ns)

    def ps(self) -> str:
        """``ps`` as seen inside, for failure messages."""
        result = self.run(["ps", "-eo", "pid,ppid,stat,etime,args"], timeout=10)
        return (result.stdout + result.stderr).strip()

    def close(self) -> None:
        """End the namespace and wait until none of its processes is left."""
        _stop(self._unshare)
        for stream in (self._unshare.stdout, self._unshare.stderr):
            if stream is not None:
                stream.close()
        if not wait_until(lambda: not self.processes(), TEARDOWN_TIMEOUT):
            left = self.processes()
            raise AssertionError(
                f"the cron namespace {self.pid_ns} still has processes {TEARDOWN_TIMEOUT:.0f} s"
                f" after its init was told to exit: {describe(left)}"
            )


def _stop(unshare: subprocess.Popen[bytes]) -> None:
    """EOF on init's stdin ends the namespace; SIGKILL to unshare (--kill-child) if it lingers."""
    if unshare.stdin is not None and not unshare.stdin.closed:
        unshare.stdin.close()
    try:
        unshare.wait(TEARDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        unshare.send_signal(signal.SIGKILL)
        unshare.wait(TEARDOWN_TIMEOUT)


@contextmanager
def cron_namespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CronNamespace]:
    """The body of the ``cron_namespace`` fixture: a namespace, and ``crontab`` on PATH (in
    front of conftest's guard) running inside it; COLLECTOR_CRONTAB unset so the CLI uses it."""
    monkeypatch.delenv("COLLECTOR_CRONTAB", raising=False)
    ns = CronNamespace.start(tmp_path / "cron-namespace")
    try:
        wrapper = ns.write_wrapper(tmp_path / "cron-namespace-bin")
        monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ.get('PATH', '')}")
        found = shutil.which("crontab")
        if found != str(wrapper):
            fail(f"`crontab` on PATH is {found}, not the namespace's wrapper {wrapper}")
        yield ns
    finally:
        ns.close()
