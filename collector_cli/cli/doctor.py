"""`collector doctor`: is this installation able to collect, and to collect from cron?

One line per check: ✓ fine, ! worth a look, ✗ broken (with what to do), - skipped. Exit 1
when anything is broken, so a script or a monitoring job can run it.

Doctor changes nothing: the store is never created, migrated or switched to WAL (it is opened
read-only through store/inspect.py), the crontab is compared with what `schedule sync` would
write but not written, and folders are checked for writability without being created. Live
checks send requests only when asked: `--check` asks eBay for a token (free; one of the 1,000
token calls eBay allows a day); Oxylabs has no free call that proves the credentials (it bills
every result, see the README), so its check needs `--check-billed` and says what it costs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from collector_cli.cli.common import out, print_json, state

MARKS = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-"}
WAL_WARN_BYTES = 256 * 1024 * 1024  # a run checkpoints at ~40 MB: more means a stuck reader
DISK_WARN_BYTES = 1024**3
DISK_FAIL_BYTES = 100 * 1024**2
LIVE_TIMEOUT_S = 30
OXYLABS_PROBE_CATEGORY = "electronics-headphones"  # any Best Sellers node proves the login
EPILOG = (
    "Exit codes: 0 nothing broken (warnings allowed) · 1 at least one check failed (✗) ·"
    " 2 bad usage."
)


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report; ``fix`` says what to do when it is not ok."""

    check: str
    status: str  # "ok", "warn", "fail" or "skip"
    message: str
    fix: str | None = None

    def line(self) -> str:
        text = f"{MARKS[self.status]} {self.check}: {self.message}"
        return f"{text} — {self.fix}" if self.fix else text


def doctor(
    ctx: typer.Context,
    check: Annotated[
        bool, typer.Option("--check", help="Also try the credentials live (eBay: a free token).")
    ] = False,
    check_billed: Annotated[
        bool,
        typer.Option(
            "--check-billed",
            help="With --check, also try Oxylabs: one Best Sellers page, 1 billed result"
            " (about $0.0004 at the default price).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Check the store, config, credentials, cron and free disk.

    One line per check: ✓ fine, ! worth a look, ✗ broken (with what to do), - skipped.
    Nothing is created or changed; only --check and --check-billed send requests.

    Examples:

      collector doctor

      collector doctor --check

      collector doctor --check --check-billed --json
    """
    from collector_cli.store.db import default_db_path

    db_path = Path(state(ctx).db_path or default_db_path()).expanduser()
    checks = run_checks(db_path, live=check or check_billed, billed=check_billed)
    if as_json:
        print_json([asdict(c) for c in checks])
    else:
        console = out()
        for item in checks:
            console.print(item.line(), markup=False, highlight=False, soft_wrap=True)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)


def run_checks(db_path: Path, *, live: bool, billed: bool) -> list[Check]:
    from collector_cli.store.inspect import inspect_store, read_only_store

    report = inspect_store(db_path)
    checks = [_version(), *_store(report)]
    usable = report.exists and not (report.error or report.unknown or report.pending)
    store = read_only_store(report.path) if usable else None
    try:
        checks += _config()
        checks += _credentials(_sources_in_use(store), live, billed)
        checks += _cron(store)
    finally:
        if store is not None:
            store.close()
    checks.append(_disk(db_path))
    return checks


def _sources_in_use(store: Any) -> set[str] | None:
    """The sources the store's presets use (None: no store to ask, so every one may be)."""
    if store is None:
        return None
    return {name for p in store.presets.list() for name in (p.product_source, p.listing_source)}


# -- version and store -------------------------------------------------------------------------


def _version() -> Check:
    from collector_cli import __version__

    python = ".".join(map(str, sys.version_info[:3]))
    return Check("version", "ok", f"collector {__version__} (Python {python}, {sys.executable})")


def _store(report: Any) -> list[Check]:  # a StoreReport
    path = report.path
    if not report.exists:
        return [
            Check(
                "store",
                "warn",
                f"no store at {path} yet",
                "`collector run` creates it (or point --db / COLLECTOR_DB at yours)",
            ),
        ]
    if report.error:
        return [
            Check(
                "store",
                "fail",
                f"{path} cannot be read: {report.error}",
                "check the path (--db / COLLECTOR_DB) and the file's permissions",
            )
        ]
    checks = [Check("store", "ok", f"{path} ({_size(report.size_bytes)})")]
    known, applied = len(report.known), len(report.applied)
    if report.unknown:
        checks.append(
            Check(
                "schema",
                "fail",
                f"written by a newer collector ({', '.join(report.unknown)})",
                "upgrade collector before using this store",
            )
        )
    elif report.pending:
        checks.append(
            Check(
                "schema",
                "warn",
                f"{applied} of {known} migrations applied; pending: {', '.join(report.pending)}",
                "the next command that opens the store applies them (e.g. `collector status`)",
            )
        )
    else:
        checks.append(Check("schema", "ok", f"{applied} of {known} migrations applied"))
    if report.quick_check == "ok":
        checks.append(Check("integrity", "ok", "PRAGMA quick_check: ok"))
    else:
        checks.append(
            Check(
                "integrity",
                "fail",
                f"PRAGMA quick_check: {report.quick_check}",
                f"copy the file aside, then `sqlite3 {path} .recover` into a new"
                " store, or restore a backup",
            )
        )
    wal = f"WAL {_size(report.wal_bytes)}"
    if report.wal_bytes > WAL_WARN_BYTES:
        checks.append(
            Check(
                "wal",
                "warn",
                f"{wal}: it is not being checkpointed",
                "close other programs that keep the store open (a long read blocks checkpoints)",
            )
        )
    else:
        checks.append(Check("wal", "ok", wal))
    return checks


# -- config and credentials --------------------------------------------------------------------


def _config() -> list[Check]:
    from collector_cli import config
    from collector_cli.errors import ConfigError

    where = config.locate()
    path, found = where.path, f"found by {where.found_by}"
    if not path.exists():
        return [Check("config", "ok", f"no config file at {path} ({found}); it is optional")]
    try:
        data = config.read_file(path)
    except ConfigError as exc:
        return [Check("config", "fail", str(exc), f"fix or remove {path}")]
    mode = stat.S_IMODE(path.stat().st_mode)
    secrets = config.secrets_in(data)
    if secrets and mode & 0o077:
        return [
            Check(
                "config",
                "fail",
                f"{path} is mode {mode:04o} but holds {', '.join(secrets)}",
                f"run chmod 600 {path}",
            )
        ]
    held = f"holds {', '.join(secrets)}" if secrets else "holds no secrets"
    return [Check("config", "ok", f"{path} ({found}), mode {mode:04o}, {held}")]


def _credentials(in_use: set[str] | None, live: bool, billed: bool) -> list[Check]:
    """Per source that needs an account: are its credentials set, and where (never shown).
    Missing ones matter ("!") only for a source some preset uses."""
    from collector_cli import config
    from collector_cli.errors import CollectorError
    from collector_cli.sources.base import LISTING_SOURCES, PRODUCT_SOURCES, source_class

    checks = []
    registered = [(n, "product") for n in PRODUCT_SOURCES]
    registered += [(n, "listing") for n in LISTING_SOURCES if n not in PRODUCT_SOURCES]
    for name, kind in registered:
        try:
            factory = source_class(name, kind)
        except (CollectorError, ImportError) as exc:
            checks.append(Check(f"source {name}", "fail", f"cannot be loaded: {exc}"))
            continue
        if not hasattr(factory, "check_credentials"):
            continue  # sample, file: no account
        keys = _settings_read_by(factory)
        secret = [(v, k) for v, k in keys if config.VENDOR_KEYS[v][k].secret]
        origins = {config.vendor_setting(v, k)[1] for v, k in secret}
        missing = [f"{v}.{k}" for v, k in secret if config.vendor_setting(v, k)[0] is None]
        try:
            factory.check_credentials()
            problem = None
        except CollectorError as exc:
            problem = str(exc)
        if missing:
            commands = " and ".join(f"`collector config set {key}`" for key in missing)
            if in_use is not None and name not in in_use:
                checks.append(Check(f"source {name}", "skip", "no credentials; no preset uses it"))
            else:
                checks.append(
                    Check(
                        f"source {name}",
                        "warn",
                        "no credentials: runs of presets that use it stop before they start",
                        f"run {commands}",
                    )
                )
            continue
        if problem:
            checks.append(Check(f"source {name}", "fail", problem))
            continue
        where = " and ".join(
            sorted("config file" if o == "config" else "environment" for o in origins)
        )
        checks.append(Check(f"source {name}", "ok", f"credentials set ({where})"))
        if live:
            checks.append(_live(name, kind, billed))
    return checks


def _settings_read_by(factory: Any) -> list[tuple[str, str]]:
    """The vendor settings a source's own credential check reads (learnt by running it in the
    config module's recording view, so no second table of who needs what is kept here)."""
    from collector_cli import config
    from collector_cli.errors import CollectorError

    try:
        with (
            config.scheduled_view(config.config_path()) as read,
            contextlib.suppress(CollectorError),
        ):
            factory.check_credentials()
    except CollectorError:
        return []
    return list(dict.fromkeys(read))


def _live(name: str, kind: str, billed: bool) -> Check:
    """One real request with the source's own client: eBay's token; Oxylabs' cheapest job."""
    from collector_cli import config
    from collector_cli.sources.base import source_class

    factory = source_class(name, kind)
    options = {**config.source_options(name), "timeout": LIVE_TIMEOUT_S}
    if name == "ebay":
        return _run_live(f"source {name} live", lambda: _ebay_token(factory, options))
    if name == "oxylabs":
        calls, cost = factory.plan_products(options, 1)
        rate = float(options.get("price_per_1k", 0.40))
        price = f"{calls} billed result, about ${cost / 1e6:.4f} at price_per_1k {rate:g}"
        if not billed:
            return Check(
                f"source {name} live",
                "skip",
                f"not tried: Oxylabs bills every request that reaches it (this one: {price})",
                "add --check-billed to spend it",
            )
        return _run_live(f"source {name} live", lambda: _oxylabs_page(factory, options, price))
    return Check(f"source {name} live", "skip", "checked through the oxylabs source (same account)")


def _run_live(label: str, probe: Callable[[], Any]) -> Check:
    import asyncio

    from collector_cli.errors import CollectorError

    fix = "check the credentials and base URL (`collector config show`)"
    try:
        message = asyncio.run(probe())
    except CollectorError as exc:
        return Check(label, "fail", str(exc), fix)
    except Exception as exc:  # one broken probe must not hide the other checks
        return Check(label, "fail", f"the check itself failed ({type(exc).__name__})", fix)
    return Check(label, "ok", message)


async def _ebay_token(factory: Any, options: dict[str, Any]) -> str:
    from collector_cli.sources.base import SourceContext
    from collector_cli.sources.settings import base_url
    from collector_cli.sources.usage import UsageMeter

    source = factory(SourceContext(0, options, UsageMeter()))
    try:
        await source._access_token()  # the source's own token request and error messages
    finally:
        await source.aclose()
    return f"eBay issued a token at {base_url('ebay')} (free; 1 of 1,000 token calls a day)"


async def _oxylabs_page(factory: Any, options: dict[str, Any], price: str) -> str:
    from collector_cli import taxonomy
    from collector_cli.sources.base import SourceContext
    from collector_cli.sources.usage import UsageMeter

    meter = UsageMeter()
    source = factory(SourceContext(0, options, meter, (OXYLABS_PROBE_CATEGORY,)))
    try:
        page = await source.product_page(taxonomy.category(OXYLABS_PROBE_CATEGORY), 1)
    finally:
        await source.aclose()
    spent = meter.cost_micros / 1e6
    return (
        f"credentials accepted: {len(page.products)} best sellers listed"
        f" ({price}; spent ${spent:.4f})"
    )


# -- cron --------------------------------------------------------------------------------------


def _cron(store: Any) -> list[Check]:
    """Daemon, our crontab lines, each schedule's credentials, the log folder."""
    from collector_cli.schedule.daemon import START_HINT, find_cron_daemon

    schedules = [s for s in store.schedules.list() if s.enabled] if store is not None else []
    daemon = find_cron_daemon()
    checks = []
    if daemon.running:
        checks.append(Check("cron daemon", "ok", daemon.describe()))
    elif schedules:
        checks.append(
            Check(
                "cron daemon",
                "fail",
                f"no cron daemon running: {len(schedules)} enabled schedule(s) will not fire",
                START_HINT,
            )
        )
    else:
        message = "no cron daemon running; no enabled schedule needs one"
        checks.append(Check("cron daemon", "skip", message))
    if store is None:
        checks.append(Check("crontab", "skip", "no readable, current store to compare with"))
        return checks
    checks.append(_crontab(store))
    checks += _schedules(store, schedules)
    checks.append(_log_folder(store.path))
    return checks


def _crontab(store: Any) -> Check:
    from collector_cli.schedule.crontab import Crontab, CrontabError, wanted_lines

    wanted = wanted_lines(store.schedules.list(), store.path)
    try:
        table = Crontab(store.path)
        drift = table.drift(wanted)
    except CrontabError as exc:
        status = "fail" if wanted else "ok"
        return Check("crontab", status, str(exc) if wanted else f"not used ({exc})")
    if drift:
        changes = ", ".join(f"schedule {d.schedule_id} {_drift_word(d.change)}" for d in drift)
        return Check(
            "crontab",
            "fail",
            f"{table.where} is out of date: {changes}",
            "run `collector schedule sync`",
        )
    return Check("crontab", "ok", f"{len(wanted)} line(s) current in {table.where}")


def _drift_word(change: str) -> str:
    return {
        "added": "missing",
        "removed": "left over",
        "updated": "stale",
        "deduplicated": "duplicated",
    }.get(change, change)


def _schedules(store: Any, schedules: list[Any]) -> list[Check]:
    from collector_cli.schedule.health import schedule_readiness

    checks = []
    for schedule in schedules:
        ready = schedule_readiness(store, schedule)
        label = f"schedule {schedule.id} ({schedule.name})"
        if ready.problems:
            checks.append(Check(label, "fail", "will fail: " + "; ".join(ready.problems)))
        elif ready.warnings:
            checks.append(Check(label, "warn", "; ".join(ready.warnings)))
    if schedules and not checks:
        checks.append(
            Check(
                "schedules",
                "ok",
                f"{len(schedules)} enabled; each finds its"
                " preset and credentials in its config file",
            )
        )
    return checks


def _log_folder(db_path: Path) -> Check:
    from collector_cli.schedule.crontab import log_path

    folder = log_path(0, db_path).parent
    if _writable(folder):
        return Check("schedule logs", "ok", f"{folder} is writable")
    return Check(
        "schedule logs",
        "fail",
        f"{folder} is not writable, so cron cannot log runs",
        f"make it writable by {_user()}",
    )


# -- disk ----------------------------------------------------------------------------------------


def _disk(db_path: Path) -> Check:
    folder = _existing(db_path.parent)
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return Check("disk", "warn", f"cannot tell the free space at {folder}: {exc.strerror}")
    text = f"{_size(free)} free at {folder}"
    if free < DISK_FAIL_BYTES:
        return Check("disk", "fail", text, "free some space: runs and exports write there")
    if free < DISK_WARN_BYTES:
        return Check("disk", "warn", text, "a large run or `db vacuum` may need more")
    return Check("disk", "ok", text)


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor (what is there to ask without creating)."""
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return probe


def _writable(folder: Path) -> bool:
    """Writable now, or creatable (its nearest existing ancestor is writable)."""
    probe = _existing(folder)
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (a container): say the uid
        return f"uid {os.getuid()}"


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"
