"""What a run spends at each source: requests, retries, failures, billed results, money, quota.

Sources record into the meter as each request happens (the HTTP layer does it for them), and
the engine writes the growth to the store on every heartbeat and at the end. So a request in
flight when the run is cancelled or killed is still counted: the vendor bills it either way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(slots=True)
class SourceUsage:
    requests: int = 0  # every HTTP request (or simulated one), token requests included
    retries: int = 0  # requests that repeat an earlier failed attempt
    failures: int = 0  # attempts that ended in an error
    billed_results: int = 0  # what the vendor bills (Oxylabs: results with a 2xx/4xx target)
    cost_micros: int = 0  # billed_results at the source's price, in micro-dollars
    quota_calls: int = 0  # calls counted against a daily quota (eBay Browse: 5,000/day)

    def add(self, other: SourceUsage) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def minus(self, other: SourceUsage) -> SourceUsage:
        return SourceUsage(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    def is_zero(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class UsageMeter:
    """Counters per source name for one attempt of a run, plus money reserved in flight."""

    def __init__(self) -> None:
        self.by_source: dict[str, SourceUsage] = {}
        self._flushed: dict[str, SourceUsage] = {}
        self.reserved_micros = 0

    def record(self, source: str, **counts: int) -> None:
        usage = self.by_source.setdefault(source, SourceUsage())
        for name, value in counts.items():
            setattr(usage, name, getattr(usage, name) + value)

    @property
    def cost_micros(self) -> int:
        return sum(u.cost_micros for u in self.by_source.values())

    def total(self) -> SourceUsage:
        result = SourceUsage()
        for usage in self.by_source.values():
            result.add(usage)
        return result

    def has_delta(self) -> bool:
        return any(
            usage != self._flushed.get(name, SourceUsage())
            for name, usage in self.by_source.items()
        )

    def take_delta(self) -> dict[str, SourceUsage]:
        """What grew since the last call: the store adds exactly this, so nothing counts twice."""
        delta = {}
        for name, usage in self.by_source.items():
            before = self._flushed.get(name, SourceUsage())
            grown = usage.minus(before)
            if not grown.is_zero():
                delta[name] = grown
                self._flushed[name] = SourceUsage(**usage.to_dict())
        return delta

    def untake(self, delta: dict[str, SourceUsage]) -> None:
        """A flush that failed (busy store): count its delta again on the next one."""
        for name, grown in delta.items():
            self._flushed[name] = self._flushed[name].minus(grown)


def price_micros(results: int, usd_per_1k: float) -> int:
    """The price of ``results`` billed results at ``usd_per_1k`` dollars per thousand."""
    return round(results * usd_per_1k * 1000)
