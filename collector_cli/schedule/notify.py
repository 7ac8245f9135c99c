"""Notifications after a scheduled run, through apprise URLs (mailto://, json://, Slack, ntfy…).

A notification that fails is reported back to the caller (who records an event); it never
fails the run. URLs can hold passwords and tokens, so only their masked form is ever shown.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from collector_cli.errors import UsageError

# Schemes whose host is a server name; for the others (pbul://, prowl://, ntfy://…) the "host"
# is an API key, a token or a private topic, so nothing but the scheme is shown.
SERVER_SCHEMES = {"mailto", "mailtos", "json", "jsons", "xml", "xmls", "form", "forms",
                  "http", "https"}  # fmt: skip


def mask(url: str) -> str:
    """``mailto://smtp.example.com/…`` or ``pbul://…``: user, password, path, tokens dropped."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "<unreadable URL>"
    if not parts.scheme:
        return "<not a URL>"
    if parts.scheme.lower() in SERVER_SCHEMES and host:
        return f"{parts.scheme}://{host}/…"
    return f"{parts.scheme}://…"


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
