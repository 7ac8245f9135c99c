"""The optional TOML config file: source settings and knobs that are not user-facing flags.

Location: ``COLLECTOR_CONFIG`` or ``config.toml`` in the platform's user config dir. Settings in
``[sources.NAME]`` override the same keys in a preset's source options, so an operator (or a
test) can make the demo fast without editing presets.
"""

from __future__ import annotations

import os
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from collector_cli.errors import ConfigError


def config_path() -> Path:
    env = os.environ.get("COLLECTOR_CONFIG")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_path

    return user_config_path("collector", appauthor=False) / "config.toml"


@cache
def load() -> dict[str, Any]:
    path = config_path()
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
    return data


def source_options(name: str, preset_options: dict[str, Any] | None = None) -> dict[str, Any]:
    merged = dict(preset_options or {})
    merged.update(load().get("sources", {}).get(name, {}))
    return merged
