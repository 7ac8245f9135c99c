"""Reading a source's options (preset ``source_options`` merged with the config file).

Bad values are configuration errors found before a run starts, with the key named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from collector_cli import config
from collector_cli.errors import ConfigError, UsageError
from collector_cli.sources.http import HttpClient
from collector_cli.sources.usage import UsageMeter


def number(
    source: str,
    options: dict[str, Any],
    key: str,
    default: float,
    *,
    low: float = 0,
    high: float = float("inf"),
) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{source} source: {key} must be a number, not {value!r}")
    try:
        result = float(value)
    except ValueError:
        raise ConfigError(f"{source} source: {key} must be a number, not {value!r}") from None
    if not low <= result <= high:
        bound = f"between {low:g} and {high:g}" if high != float("inf") else f"at least {low:g}"
        raise ConfigError(f"{source} source: {key} must be {bound}, not {value!r}")
    return result


def choice(source: str, options: dict[str, Any], key: str, default: Any, allowed: Iterable) -> Any:
    value = options.get(key, default)
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(
            f"{source} source: {key} must be one of {', '.join(map(str, allowed))}, not {value!r}"
        )
    return value


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """The per-source HTTP knobs every real source accepts."""

    timeout_s: float
    rate_per_s: float | None
    concurrency: int
    price_per_1k: float

    @classmethod
    def read(
        cls, source: str, options: dict[str, Any], *, timeout_s: float, rate: float, price: float
    ) -> HttpSettings:
        rate_value = number(source, options, "rate", rate, high=10_000)
        return cls(
            timeout_s=number(source, options, "timeout", timeout_s, low=0.1, high=3600),
            rate_per_s=rate_value or None,  # 0 = no rate limit
            concurrency=int(number(source, options, "concurrency", 64, low=1, high=1024)),
            price_per_1k=number(source, options, "price_per_1k", price, high=1000),
        )

    def client(
        self,
        source: str,
        meter: UsageMeter | None,
        on_unanswered: Callable[[], None] | None = None,
    ) -> HttpClient:
        return HttpClient(
            source,
            meter,
            timeout_s=self.timeout_s,
            rate_per_s=self.rate_per_s,
            concurrency=self.concurrency,
            on_unanswered=on_unanswered,
        )


def credentials(vendor: str, source: str) -> dict[str, str]:
    """A vendor's credentials; missing ones are a usage error that names what to set."""
    values = config.vendor_settings(vendor)
    missing = [
        key for key, spec in config.VENDOR_KEYS[vendor].items() if spec.secret and not values[key]
    ]
    if missing:
        names = " and ".join(config.VENDOR_KEYS[vendor][k].env for k in missing)
        keys = " and ".join(f"{vendor}.{k}" for k in missing)
        raise UsageError(
            f"the {source} source needs credentials: set {names}"
            f" (or save {keys} with `collector config set`)"
        )
    if vendor == "oxylabs" and ":" in (values.get("username") or ""):
        raise UsageError("the Oxylabs username cannot contain ':' (HTTP Basic auth)")
    if vendor == "ebay" and ":" in (values.get("client_id") or ""):
        raise UsageError("the eBay client id cannot contain ':' (HTTP Basic auth)")
    base_url(vendor)  # a mistyped URL is found now, not at the first request
    return {k: v for k, v in values.items() if v is not None}


def base_url(vendor: str) -> str:
    url = (config.vendor_setting(vendor, "url")[0] or "").rstrip("/")
    if not url.startswith(("http://", "https://")):
        spec = config.VENDOR_KEYS[vendor]["url"]
        raise UsageError(f"invalid {vendor} base URL {url!r}: set {spec.env} to an http(s) URL")
    return url
