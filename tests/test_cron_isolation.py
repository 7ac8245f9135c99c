"""Proof that the cron tests never touch the machine's cron, even when killed halfway.

tests/test_schedule_daemon.py runs the real `crontab` and a real cron daemon inside a private
namespace (tests/cron_namespace.py). Here those tests run as child pytest processes, one to the
end and one killed with SIGKILL while its cron daemon runs and its crontab holds our line, and
the machine's side is compared before, during and after:

(a) the invoking user's `crontab -l` (the real command by absolute path, with the PATH pytest
    started with: this module's own test environment puts a guard in front of it),
(b) the host's spool /var/spool/cron/crontabs: names, modes, owners, sizes, mtimes, contents,
(c) the cron daemons running in the host's pid namespace,

and every process of the child's namespace must be gone afterwards. Reading (a) and (b) is the
one thing these tests do with the machine's cron: the proof needs it; nothing is ever written.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cron_namespace import (
    REFUSED,
    SPOOL,
    comm,
    cron_namespace,
    describe,
    fail,
    namespace_of,
    namespace_processes,
    pids_in_namespace,
    running,
    system_tool,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]
# Taken at import (collection), before any fixture of conftest prepends its crontab guard.
ORIGINAL_ENV = dict(os.environ)
DAEMON_TESTS = "tests/test_schedule_daemon.py"
EDIT_TEST = "test_real_crontab_keeps_foreign_lines_byte_identical"
DAEMON_TEST = "test_cron_daemon_fires_an_every_minute_schedule"
OUR_LINE = re.compile(rb"#\s*collector-schedule:[0-9a-f]{8}:\d+\s*$", re.MULTILINE)
CHILD_TIMEOUT = 300.0  # the edit test takes seconds; generous for a loaded machine
SYNC_TIMEOUT = 120.0  # until the killed child's cron runs with our line in its crontab
GONE_TIMEOUT = 30.0  # until a dead test's namespace has no process left


@dataclass(frozen=True)
class HostCron:
    """What the machine's cron looks like from outside any test namespace."""

    crontab_l: tuple[int, bytes, bytes]  # exit status, stdout, stderr
    spool: tuple[tuple[object, ...], ...]
    daemons: frozenset[int]

    def differences(self, other: HostCron) -> list[str]:
        return [
            f"{name}: {getattr(self, name)!r} -> {getattr(other, name)!r}"
            for name in ("crontab_l", "spool", "daemons")
            if getattr(self, name) != getattr(other, name)
        ]


def host_env() -> dict[str, str]:
    """The environment pytest was started with (no guard, no test HOME); no pytest variables,
    so a child pytest is not a worker of anything and reads no extra options."""
    return {k: v for k, v in ORIGINAL_ENV.items() if not k.startswith("PYTEST_")}


def real_crontab_l() -> tuple[int, bytes, bytes]:
    crontab = system_tool("crontab")
    if crontab is None:
        fail("there is no `crontab` command")
    env = {"PATH": ORIGINAL_ENV.get("PATH", ""), "LC_ALL": "C"}
    result = subprocess.run([crontab, "-l"], capture_output=True, env=env, timeout=30)
    return result.returncode, result.stdout, result.stderr


def spool_listing() -> tuple[tuple[object, ...], ...]:
    """The host spool and each entry: lstat fields that change on a write, and the bytes."""
    entries: list[tuple[object, ...]] = []
    st = SPOOL.lstat()
    entries.append((".", st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_ctime_ns))
    for path in sorted(SPOOL.iterdir()):
        st = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        entries.append((path.name, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns,
                        st.st_ctime_ns, st.st_ino, content))  # fmt: skip
    return tuple(entries)


def host_cron_daemons() -> frozenset[int]:
    """Running `cron` processes in this (the host's) pid namespace; those inside a test's
    namespace are checked by namespace instead, so parallel tests do not disturb this set."""
    own = namespace_of(os.getpid(), "pid")
    return frozenset(
        pid
        for pid in (int(e) for e in os.listdir("/proc") if e.isdigit())
        if comm(pid) == "cron" and running(pid) and namespace_of(pid, "pid") == own
    )


def ns_pid(pid: int) -> int | None:
    """A process's pid inside its own (innermost) pid namespace."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    line = next((ln for ln in status.splitlines() if ln.startswith("NSpid:")), "")
    return int(line.split()[-1]) if line else None


def host_cron() -> HostCron:
    return HostCron(real_crontab_l(), spool_listing(), host_cron_daemons())


def assert_unchanged(before: HostCron, when: str) -> None:
    after = host_cron()
    changes = before.differences(after)
    assert not changes, f"{when}, the machine's cron changed:\n" + "\n".join(changes)


def child_pytest(basetemp: Path, test: str, output: Path) -> subprocess.Popen[bytes]:
    """`python -m pytest` on one test of the daemon file, in its own process group."""
    with output.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp",
             str(basetemp), "-k", test, DAEMON_TESTS],
            cwd=ROOT, env=host_env(), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def namespace_info(basetemp: Path) -> dict | None:
    """What the child's cron_namespace fixture wrote about its namespace, once it exists."""
    # resolve(): pytest also links the test's folder as "<name>current".
    found = sorted({p.resolve() for p in basetemp.glob("*/cron-namespace/namespace.json")})
    assert len(found) <= 1, f"more than one namespace under {basetemp}: {found}"
    return json.loads(found[0].read_text(encoding="utf-8")) if found else None


def assert_namespace_gone(info: dict, also_dead: set[int], when: str) -> None:
    """Every process of the namespace ends (the init by EOF, the rest by the kernel)."""
    watched = also_dead | {info["init_pid"], info["unshare_pid"]}

    def left() -> list[int]:
        inside = namespace_processes(info["pid_ns"], info["mnt_ns"])
        return sorted(set(inside) | {p for p in watched if running(p)})

    if not wait_until(lambda: not left(), GONE_TIMEOUT, interval=0.05):
        pytest.fail(f"{when}, the test's cron namespace still has processes after"
                    f" {GONE_TIMEOUT:.0f} s: {describe(left())}")  # fmt: skip


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def require_root() -> None:
    if os.geteuid() != 0:
        fail(f"the tests run as uid {os.geteuid()}, not root")


def test_a_cron_test_run_to_the_end_leaves_the_machines_cron_alone(tmp_path: Path) -> None:
    require_root()
    before = host_cron()
    basetemp, output = tmp_path / "child", tmp_path / "child.out"
    child = child_pytest(basetemp, EDIT_TEST, output)
    try:
        child.wait(CHILD_TIMEOUT)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    text = output.read_text(errors="replace")
    assert child.returncode == 0, f"the child pytest failed (exit {child.returncode}):\n{text}"
    assert "1 passed" in text, text

    info = namespace_info(basetemp)
    assert info is not None, f"the child test made no cron namespace under {basetemp}:\n{text}"
    assert_namespace_gone(info, set(), "after the crontab test ran to the end")
    assert_unchanged(before, "after the crontab test ran to the end")


def test_a_cron_test_killed_halfway_leaves_the_machines_cron_alone(tmp_path: Path) -> None:
    """SIGKILL to the whole test process group while its namespace holds our crontab line and a
    running cron daemon: no teardown runs, and yet nothing of it survives or leaks out."""
    require_root()
    before = host_cron()
    basetemp, output = tmp_path / "child", tmp_path / "child.out"
    child = child_pytest(basetemp, DAEMON_TEST, output)
    ns_crons: set[int] = set()
    info: dict | None = None
    try:

        def halfway() -> bool:
            nonlocal info
            if child.poll() is not None:
                return True
            info = info or namespace_info(basetemp)
            if info is None:
                return False
            if not OUR_LINE.search(read_bytes(Path(info["spool"]) / "root")):
                return False
            if not re.fullmatch(rb"\d+\n", read_bytes(Path(info["run"]) / "crond.pid")):
                return False
            ns_crons.update(p for p in pids_in_namespace("pid", info["pid_ns"])
                            if comm(p) == "cron")  # fmt: skip
            return bool(ns_crons)

        reached = wait_until(halfway, SYNC_TIMEOUT)
        if child.poll() is not None or not reached:
            pytest.fail(
                f"the child never reached 'cron running with our line in its crontab' (exit"
                f" {child.poll()}, namespace {info}):\n{output.read_text(errors='replace')}"
            )
        # Halfway, too, the machine's side is untouched.
        assert_unchanged(before, "while a test's cron daemon ran with our line")
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(60)

    assert child.returncode == -signal.SIGKILL, output.read_text(errors="replace")
    assert info is not None
    assert_namespace_gone(info, ns_crons, "after the test was killed with SIGKILL")
    assert_unchanged(before, "after the test was killed with SIGKILL")
    # It really was cut off halfway: its table is still in the (private) spool it left behind.
    assert OUR_LINE.search((Path(info["spool"]) / "root").read_bytes())


def test_commands_refuse_to_run_outside_their_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command the namespace runs first checks where it is: on the host (say, an init's
    pid reused by a host process) it stops before the real crontab could start."""
    require_root()
    before = host_cron()
    with cron_namespace(tmp_path, monkeypatch) as ns:
        crontab = system_tool("crontab")
        assert crontab is not None
        outside = subprocess.run(ns.guarded([crontab, "-l"]), capture_output=True, text=True,
                                 env={"PATH": "/usr/bin:/bin"}, timeout=30)  # fmt: skip
        assert outside.returncode == REFUSED, outside
        assert "refusing" in outside.stderr and not outside.stdout, outside
        inside = ns.crontab("-l")
        assert inside.returncode == 1 and "no crontab" in inside.stderr, inside
    assert_unchanged(before, "after the guard was tried on the host")


def test_two_namespaces_have_their_own_tables_and_daemons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What parallel tests (xdist) rely on: each namespace its own spool, /run and daemon."""
    require_root()
    before = host_cron()
    cron = system_tool("cron", "/usr/sbin/cron")
    if cron is None:
        fail("no cron daemon binary (cron / /usr/sbin/cron)")
    with (
        cron_namespace(tmp_path / "one", monkeypatch) as one,
        cron_namespace(tmp_path / "two", monkeypatch) as two,
    ):
        table = "0 3 1 1 * /bin/true # only in namespace one\n"
        assert one.crontab("-", input=table).returncode == 0
        assert one.crontab("-l").stdout == table
        assert "no crontab" in two.crontab("-l").stderr
        assert not (two.spool / "root").exists()

        # Two daemons at once. cron writes its pid only once it holds the lock on
        # /run/crond.pid, so each file naming its own namespace's running cron means two locks.
        daemons = [ns.popen([cron, "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for ns in (one, two)]  # fmt: skip
        crons: list[list[int]] = []

        def both_running() -> bool:
            crons[:] = [[p for p in ns.processes() if comm(p) == "cron"] for ns in (one, two)]
            return all(
                len(found) == 1
                and read_bytes(ns.run_dir / "crond.pid") == f"{ns_pid(found[0])}\n".encode()
                for ns, found in zip((one, two), crons, strict=True)
            )

        assert wait_until(both_running, 30), (crons, [d.poll() for d in daemons])
        assert all(d.poll() is None for d in daemons), [d.returncode for d in daemons]
        assert crons[0] != crons[1], crons
        assert_unchanged(before, "with two test cron daemons running")
    for daemon in daemons:
        daemon.wait(GONE_TIMEOUT)  # nsenter ends once the namespace killed its cron
    assert not any(running(p) for c in crons for p in c), crons
    assert_unchanged(before, "after two namespaces were closed")
