"""Will a schedule's fire work? The things a crontab line cannot say about itself.

A line can be "current" and still never produce a run: no cron daemon reads it, or the run it
starts cannot find its credentials, because cron passes on none of the shell's environment and
the run reads only the config file the line pins. `schedule add` refuses the second case,
`schedule list` / `show`, `status` and `doctor` report both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collector_cli.errors import CollectorError, NotFoundError, UsageError
from collector_cli.schedule.daemon import START_HINT, CronDaemon, find_cron_daemon

if TYPE_CHECKING:
    from collector_cli.models import Preset
    from collector_cli.store.db import Store
    from collector_cli.store.schedules import Schedule

NO_DAEMON = "no cron daemon running: scheduled runs will not fire until one runs"


@dataclass(frozen=True, slots=True)
class Readiness:
    """What a run started by cron would meet: ``problems`` make it fail before it starts,
    ``warnings`` make it run differently from a run started in this shell."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # config keys, e.g. "ebay.client_id"


def readiness(preset: Preset, config_path: str | None) -> Readiness:
    """Check ``preset``'s sources against the config file a scheduled run reads (``config_path``,
    as pinned on its line; None for an old unpinned line) and nothing else.

    Each source's own credential check runs inside ``config.scheduled_view``, which hides the
    environment and records which settings the check read; so the sources stay the one place
    that knows which vendor (and which keys) they need.
    """
    from collector_cli import config
    from collector_cli.sources.base import source_class, validate_credentials

    where = Path(config_path) if config_path else config.cron_default_path()
    problems: list[str] = []
    warnings: list[str] = []
    needs: dict[str, tuple[list[str], list[str]]] = {}  # vendor → (sources, missing keys)
    for name, kind in _sources(preset):
        try:
            factory = source_class(name, kind)
            with config.scheduled_view(where) as read:
                try:
                    validate_credentials(factory)
                    failure: UsageError | None = None
                except UsageError as exc:
                    failure = exc
            data = config.read_file(where)
        except CollectorError as exc:  # an unknown source, an unreadable config file
            problems.append(str(exc))
            continue
        missing = [(v, k) for v, k in dict.fromkeys(read) if config.VENDOR_KEYS[v][k].secret
                   and not config.file_value(v, k, data)]  # fmt: skip
        for vendor, key in missing:
            sources, keys = needs.setdefault(vendor, ([], []))
            if name not in sources:
                sources.append(name)
            if f"{vendor}.{key}" not in keys:
                keys.append(f"{vendor}.{key}")
        if failure is not None and not missing:
            problems.append(f"the {name} source: {failure}")
        warnings += [w for w in _env_only(read, data) if w not in warnings]
    prefix = "" if where == config.config_path() else f"COLLECTOR_CONFIG={where} "
    if needs:
        said = []
        for sources, keys in needs.values():
            plural = "s need" if len(sources) > 1 else " needs"
            said.append(f"the {' and '.join(sources)} source{plural} {' and '.join(keys)}")
        commands = " and ".join(
            f"`{prefix}collector config set {key}`" for _, keys in needs.values() for key in keys
        )
        problems.append(
            f"{'; '.join(said)} in the config file {where}, which scheduled runs read (cron"
            f" passes on no environment variables): run {commands}"
        )
    missing_keys = [key for _, keys in needs.values() for key in keys]
    return Readiness(problems, warnings, missing_keys)


def _sources(preset: Preset) -> list[tuple[str, str]]:
    return [(preset.product_source, "product"), (preset.listing_source, "listing")]


def _env_only(read: list[tuple[str, str]], data: dict[str, Any]) -> list[str]:
    """Non-secret settings (base URLs) this shell sets in its environment that the scheduled
    run will not see: it would talk to another endpoint than a run started here."""
    from collector_cli import config

    found = []
    for vendor, key in dict.fromkeys(read):
        spec = config.VENDOR_KEYS[vendor][key]
        here = os.environ.get(spec.env)
        there = config.file_value(vendor, key, data) or spec.default
        if not spec.secret and here and here.rstrip("/") != (there or "").rstrip("/"):
            found.append(
                f"{spec.env} is set in this shell but scheduled runs will use {vendor}.{key}"
                f" = {there or '(not set)'} from the config file"
                f" (`collector config set {vendor}.{key} {here}` to use the same)"
            )
    return found


def schedule_readiness(store: Store, schedule: Schedule) -> Readiness:
    """``readiness`` for a stored schedule: its preset, its pinned config file."""
    try:
        preset = store.presets.get(schedule.preset_name)
    except NotFoundError:
        return Readiness([f"its preset {schedule.preset_name!r} no longer exists"])
    return readiness(preset, schedule.config_path)


def status_warnings(store: Store, daemon: CronDaemon | None = None) -> list[str]:
    """Lines for `collector status` under the next scheduled runs: enabled schedules exist but
    nothing will fire them. Empty when there is no enabled schedule (cron is then not needed)."""
    if not any(s.enabled for s in store.schedules.list()):
        return []
    daemon = daemon or find_cron_daemon()
    return [] if daemon.running else [f"! {NO_DAEMON}; {START_HINT}"]
