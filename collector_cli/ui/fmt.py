"""Small formatting helpers shared by reporters and tables."""

from __future__ import annotations

from datetime import datetime


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def local_time(iso: str | None) -> str:
    """An ISO-8601 UTC timestamp from the store, shown in the user's local time zone."""
    if not iso:
        return "—"
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def span_seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def num(value: int | float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,}"
