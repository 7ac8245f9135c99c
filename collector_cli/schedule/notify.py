"""Notifications after a scheduled run, through apprise URLs (mailto://, json://, Slack, ntfy…).

A notification that fails is reported back to the caller (who records an event); it never
fails the run. URLs can hold passwords and tokens, so only their masked form is ever shown.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from collector_cli.errors import UsageError


def mask(url: str) -> str:
    """Scheme and host only: ``mailto://smtp.example.com/…``; user, password, path dropped."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "<unreadable URL>"
    return f"{parts.scheme}://{host}/…" if parts.scheme else "<not a URL>"


def validate(urls: list[str]) -> list[str]:
    """Each URL must be one apprise understands; the error shows only the masked URL."""
    apprise = _apprise()
    for url in urls:
        if not apprise.Apprise().add(url):
            raise UsageError(
                f"invalid --notify URL {mask(url)}: not a notification URL apprise knows"
                " (e.g. mailto://user:pass@host, json://host/path, ntfy://topic)"
            )
    return urls


def send(urls: list[str], title: str, body: str) -> list[str]:
    """Notify every URL; returns one message per failure (masked), never raises."""
    failures = []
    apprise = _apprise()
    for url in urls:
        try:
            sender = apprise.Apprise()
            if not sender.add(url) or not sender.notify(title=title, body=body, body_format="text"):
                failures.append(f"notification to {mask(url)} failed")
        except Exception as exc:  # a broken notifier must not break the run's ending
            failures.append(f"notification to {mask(url)} failed ({type(exc).__name__})")
    return failures


def _apprise():  # type: ignore[no-untyped-def]
    """Imported only when a schedule notifies; its log (which can quote URLs) is silenced."""
    import apprise

    log = logging.getLogger("apprise")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    return apprise
