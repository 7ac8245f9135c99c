"""Limits that end a run early but cleanly, each with a recorded finish reason."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from collector_cli.errors import UsageError

DEFAULT_BREAKER = 20
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


@dataclass(frozen=True, slots=True)
class RunLimits:
    max_requests: int | None = None
    max_duration_s: int | None = None
    max_errors: int | None = None
    max_new_sellers: int | None = None
    max_cost_micros: int | None = None  # money this attempt may spend, in micro-dollars
    breaker: int = DEFAULT_BREAKER  # consecutive failed requests of one source → run failed

    def to_dict(self, *, without_defaults: bool = False) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        if without_defaults and data.get("breaker") == DEFAULT_BREAKER:
            del data["breaker"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RunLimits:
        data = data or {}
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def merged(self, **overrides: int | None) -> RunLimits:
        """These limits with every override that is not None applied (run flags over preset)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def validate(self) -> RunLimits:
        for name in ("max_requests", "max_duration_s", "max_errors", "max_new_sellers"):
            value = getattr(self, name)
            if value is not None and value < 1:
                flag = name.removesuffix("_s").replace("_", "-")
                raise UsageError(f"invalid --{flag} {value}: use 1 or more")
        if self.max_cost_micros is not None and self.max_cost_micros <= 0:
            raise UsageError("invalid --max-cost: use an amount above 0, e.g. 2.50")
        if self.breaker < 1:
            raise UsageError("invalid circuit breaker threshold: use 1 or more")
        return self


def parse_cost(text: str) -> int:
    """'2.50', '$2.50' or '0.5' US dollars → micro-dollars."""
    value = text.strip().removeprefix("$").strip()
    try:
        amount = float(value)
    except ValueError:
        amount = -1.0
    if not amount > 0 or amount > 1_000_000 or amount != amount:
        raise UsageError(f"invalid --max-cost {text!r}: use US dollars above 0, e.g. 2.50")
    return round(amount * 1_000_000)


def parse_duration(text: str) -> int:
    """'90s', '45m', '2h', '1h30m', '1d', or plain seconds → seconds."""
    value = text.strip().lower()
    if value.isdigit():
        seconds = int(value)
    else:
        match = _DURATION.fullmatch(value)
        if not value or not match or not any(match.groups()):
            raise UsageError(
                f"invalid duration {text!r}: use e.g. 90s, 45m, 2h, 1h30m, 1d or seconds"
            )
        d, h, m, s = (int(g or 0) for g in match.groups())
        seconds = ((d * 24 + h) * 60 + m) * 60 + s
    if seconds < 1:
        raise UsageError(f"invalid duration {text!r}: must be at least 1 second")
    return seconds


def format_duration(seconds: int) -> str:
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"
