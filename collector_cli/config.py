"""The optional TOML config file: credentials, API base URLs and per-source settings.

Location: ``COLLECTOR_CONFIG`` or ``config.toml`` in the platform's user config dir (which
``XDG_CONFIG_HOME`` moves on Linux), created 0600 by ``collector config set``; ``locate()`` says
which file is in use and how it was found, so a crontab line can pin exactly that file.
``[oxylabs]`` and ``[ebay]`` hold a vendor's credentials and base URL (environment variables
win over the file). Settings in ``[sources.NAME]`` override the same keys in a preset's source
options, so an operator (or a test) can tune a source without editing presets.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from collector_cli.errors import ConfigError, UsageError


@dataclass(frozen=True, slots=True)
class VendorKey:
    env: str
    secret: bool
    default: str | None = None


# Credentials and endpoints per vendor; a vendor's settings serve every source that uses it
# (Oxylabs: Amazon Best Sellers and eBay pages).
VENDOR_KEYS: dict[str, dict[str, VendorKey]] = {
    "oxylabs": {
        "username": VendorKey("COLLECTOR_OXYLABS_USERNAME", True),
        "password": VendorKey("COLLECTOR_OXYLABS_PASSWORD", True),
        "url": VendorKey("COLLECTOR_OXYLABS_URL", False, "https://realtime.oxylabs.io"),
    },
    "ebay": {
        "client_id": VendorKey("COLLECTOR_EBAY_CLIENT_ID", True),
        "client_secret": VendorKey("COLLECTOR_EBAY_CLIENT_SECRET", True),
        "url": VendorKey("COLLECTOR_EBAY_URL", False, "https://api.ebay.com"),
    },
}


@dataclass(frozen=True, slots=True)
class ConfigLocation:
    """The config file in use and how it was found (``COLLECTOR_CONFIG``, ``XDG_CONFIG_HOME``
    or ``default``); ``path`` is absolute, so it means the same file from any directory."""

    path: Path
    found_by: str


def locate() -> ConfigLocation:
    """Where this process reads its config: what a crontab line must pin, since cron sets
    neither ``COLLECTOR_CONFIG`` nor ``XDG_CONFIG_HOME`` (the file may not exist yet)."""
    env = os.environ.get("COLLECTOR_CONFIG")
    if env:
        return ConfigLocation(Path(env).expanduser().resolve(), "COLLECTOR_CONFIG")
    from platformdirs import user_config_path

    path = (user_config_path("collector", appauthor=False) / "config.toml").resolve()
    xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
    found_by = "XDG_CONFIG_HOME" if xdg and _unix_dirs() else "default"
    return ConfigLocation(path, found_by)


def config_path() -> Path:
    return locate().path


def cron_default_path() -> Path:
    """The file a run started by cron finds without ``COLLECTOR_CONFIG``: cron sets HOME but
    no XDG variable (what an unpinned crontab line, from before lines were pinned, reads)."""
    if not _unix_dirs():
        from platformdirs import user_config_path

        return user_config_path("collector", appauthor=False) / "config.toml"
    return Path.home() / ".config" / "collector" / "config.toml"


def _unix_dirs() -> bool:
    """platformdirs follows the XDG variables everywhere but on macOS and Windows."""
    return not sys.platform.startswith(("darwin", "win"))


@cache
def load() -> dict[str, Any]:
    return read_file(config_path())


def read_file(path: Path) -> dict[str, Any]:
    """One config file, checked (``{}`` when it does not exist); not cached, so a caller that
    looks at another file than this process's (a schedule's, `doctor`'s) reads it as it is."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    sources = data.get("sources", {})
    if not isinstance(sources, dict) or not all(isinstance(v, dict) for v in sources.values()):
        raise ConfigError(f"config file {path}: [sources.NAME] must be tables of settings")
    for vendor, keys in VENDOR_KEYS.items():
        table = data.get(vendor, {})
        if not isinstance(table, dict):
            raise ConfigError(f"config file {path}: [{vendor}] must be a table of settings")
        for key, value in table.items():
            if key not in keys:
                raise ConfigError(
                    f"config file {path}: unknown setting {vendor}.{key} (known: {', '.join(keys)})"
                )
            if not isinstance(value, str):
                raise ConfigError(f"config file {path}: {vendor}.{key} must be a string")
    return data


def notify_urls(key: str) -> list[str] | None:
    """A schedule's notification URLs (they may hold passwords, so they live here, 0600,
    and never in the database); None when the config file has none for ``key``."""
    urls = load().get("notify", {}).get(key)
    if urls is None:
        return None
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ConfigError(f"config file {config_path()}: notify.{key} must be a list of URLs")
    return urls


def all_notify_urls() -> dict[str, list[str]]:
    """Every schedule's notification URLs by key (``STORE-ID``), for `config show` (masked)."""
    table = load().get("notify", {})
    if not isinstance(table, dict):
        raise ConfigError(f"config file {config_path()}: [notify] must be a table")
    return {key: list(urls) for key, urls in sorted(table.items()) if isinstance(urls, list)}


def set_notify_urls(key: str, urls: list[str] | None) -> None:
    """Store (or with None remove) a schedule's URLs; a no-op when nothing changes."""
    import copy

    data = copy.deepcopy(load())
    table = data.setdefault("notify", {})
    if urls:
        if table.get(key) == urls:
            return
        table[key] = list(urls)
    elif key in table:
        del table[key]
    else:
        return
    if not table:
        del data["notify"]
    write(data)


def vendor_setting(vendor: str, key: str) -> tuple[str | None, str]:
    """A vendor setting and where it came from: ``env``, ``config`` or ``default``."""
    spec = VENDOR_KEYS[vendor][key]
    view = _VIEW.get()
    if view is not None:  # as a scheduled run sees it: its pinned file, no environment
        view.read.append((vendor, key))
        value = view.data.get(vendor, {}).get(key)
        return (value, "config") if value else (spec.default, "default")
    value = os.environ.get(spec.env)
    if value:
        return value, "env"
    value = load().get(vendor, {}).get(key)
    if value:
        return value, "config"
    return spec.default, "default"


@dataclass(slots=True)
class _View:
    path: Path
    data: dict[str, Any]
    read: list[tuple[str, str]] = field(default_factory=list)


_VIEW: ContextVar[_View | None] = ContextVar("collector_config_view", default=None)


@contextmanager
def scheduled_view(path: Path | None) -> Iterator[list[tuple[str, str]]]:
    """Vendor settings as a run started by cron will see them: only the config file its line
    pins (``path``; None for an unpinned line), never this shell's environment, which cron does
    not pass on. Yields the (vendor, key) pairs read meanwhile, so a caller can ask a source's
    own credential check and learn which settings it needs without a second list of them."""
    target = path if path is not None else cron_default_path()
    view = _View(target, read_file(target))
    token = _VIEW.set(view)
    try:
        yield view.read
    finally:
        _VIEW.reset(token)


def file_value(vendor: str, key: str, data: dict[str, Any] | None = None) -> str | None:
    """A vendor setting as the config file (not the environment) holds it."""
    value = (load() if data is None else data).get(vendor, {}).get(key)
    return value if isinstance(value, str) and value else None


def secrets_in(data: dict[str, Any]) -> list[str]:
    """The names of the secret settings a config file holds (credentials, notify URLs),
    never their values: what makes anything but mode 0600 a leak."""
    found = [
        f"{vendor}.{key}"
        for vendor, keys in VENDOR_KEYS.items()
        for key, spec in keys.items()
        if spec.secret and file_value(vendor, key, data)
    ]
    notify = data.get("notify")
    if isinstance(notify, dict) and notify:
        found.append("notify URLs")
    return found


def vendor_settings(vendor: str) -> dict[str, str | None]:
    return {key: vendor_setting(vendor, key)[0] for key in VENDOR_KEYS[vendor]}


def parse_key(key: str) -> tuple[str, ...]:
    """``oxylabs.password`` or ``sources.NAME.OPTION``; anything else is a usage error."""
    parts = tuple(key.split("."))
    if len(parts) == 2 and parts[0] in VENDOR_KEYS and parts[1] in VENDOR_KEYS[parts[0]]:
        return parts
    if len(parts) == 3 and parts[0] == "sources" and all(parts[1:]):
        return parts
    known = [f"{v}.{k}" for v, keys in VENDOR_KEYS.items() for k in keys]
    raise UsageError(
        f"unknown config key {key!r}: use one of {', '.join(known)} or sources.NAME.OPTION"
    )


def parse_value(value: str) -> Any:
    """Source options are typed (numbers, booleans); everything else stays text."""
    import re

    text = value.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if re.fullmatch(r"-?(?:0|[1-9]\d*)", text):  # "02134" (a ZIP code) stays text
        return int(text)
    if re.fullmatch(r"-?(?:0|[1-9]\d*)\.\d+", text):
        return float(text)
    return value


def write(data: dict[str, Any]) -> Path:
    """Replace the config file atomically, readable by its owner only (it holds secrets)."""
    import tempfile

    import tomli_w

    path = config_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:  # mkstemp already made it 0600
                tomli_w.dump(data, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write config file {path}: {exc.strerror}") from exc
    load.cache_clear()
    return path


def source_options(name: str, preset_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """A source's settings for a run: the preset's, overridden key by key by ``[sources.NAME]``.

    Called once per source when a run is resolved (engine/resolve.py); the run keeps the result,
    so a config file edited while a run waits or runs does not change it halfway.
    """
    merged = dict(preset_options or {})
    merged.update(load().get("sources", {}).get(name, {}))
    return merged
