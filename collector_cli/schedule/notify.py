"""Notifications after a scheduled run, through apprise URLs (mailto://, json://, Slack, ntfy…).

A notification that fails is reported back to the caller (who records an event, with the
reason apprise gave); it never fails the run. URLs can hold passwords and tokens, so only their
masked form is ever shown, and a reason is scrubbed of every part of the URL that could be one.

Each notification carries an apprise type that says how the run went (``Outcome``): Slack, ntfy
and others colour and label it by that type, so a failed run must not arrive as "info".
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from enum import Enum
from urllib.parse import parse_qsl, unquote, urlsplit

from collector_cli.errors import ExitCode, UsageError

# Schemes whose host is a server name; for the others (pbul://, prowl://, ntfy://…) the "host"
# is an API key, a token or a private topic, so nothing but the scheme is shown.
SERVER_SCHEMES = {"mailto", "mailtos", "json", "jsons", "xml", "xmls", "form", "forms",
                  "http", "https"}  # fmt: skip
REASON_LIMIT = 300
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")\]]+")


class Outcome(Enum):
    """How a fire ended, as the notification's type (apprise NotifyType values)."""

    SUCCESS = "success"  # completed, nothing failed
    WARNING = "warning"  # completed with failed products, ended by a limit, cancelled
    FAILURE = "failure"  # the run failed, or could not start at all

    @classmethod
    def of(cls, exit_code: int) -> Outcome:
        if exit_code == ExitCode.OK:
            return cls.SUCCESS
        if exit_code in (ExitCode.PARTIAL, ExitCode.LIMIT, ExitCode.CANCELLED):
            return cls.WARNING
        return cls.FAILURE


@dataclass(frozen=True, slots=True)
class Failure:
    """One URL that could not be notified: its masked form and apprise's reason, scrubbed."""

    masked: str
    reason: str

    @property
    def message(self) -> str:
        return f"notification to {self.masked} failed: {self.reason}"


def mask(url: str) -> str:
    """``mailto://smtp.example.com/…#1f0c2a`` or ``pbul://…#9be41d``: user, password, path and
    tokens dropped; the tag (a hash of the URL without its password) tells two URLs of the same
    scheme and host apart, and is the same for the same endpoint in every schedule.

    The password is left out of the hash so that a weak one cannot be confirmed by guessing
    against the tag; a token in the host or path is hashed, 24 bits, which tells apart but
    cannot be turned back into the token.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0] if len(netloc) == 2 else ""
    except ValueError:
        return "<unreadable URL>"
    if not parts.scheme:
        return "<not a URL>"
    keyed = parts._replace(netloc=f"{user}@{netloc[-1]}" if user else netloc[-1]).geturl()
    tag = hashlib.blake2b(keyed.encode("utf-8", "surrogateescape"), digest_size=3).hexdigest()
    if parts.scheme.lower() in SERVER_SCHEMES and host:
        return f"{parts.scheme}://{host}/…#{tag}"
    return f"{parts.scheme}://…#{tag}"


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


def send(urls: list[str], title: str, body: str, outcome: Outcome) -> list[Failure]:
    """Notify every URL with the outcome's type; one ``Failure`` per URL that failed, with
    apprise's reason (its log lines, which it never raises), never raises itself."""
    failures = []
    apprise = _apprise()
    for url in urls:
        capture = _Capture()
        log = logging.getLogger("apprise")
        log.addHandler(capture)
        try:
            sender = apprise.Apprise()
            if not sender.add(url):
                capture.lines.append("apprise does not understand this URL any more")
                ok = False
            else:
                ok = bool(sender.notify(title=title, body=body, body_format="text",
                                        notify_type=apprise.NotifyType(outcome.value)))  # fmt: skip
        except Exception as exc:  # a broken notifier must not break the run's ending
            capture.lines.append(f"{type(exc).__name__}: {exc}")
            ok = False
        finally:
            log.removeHandler(capture)
        if not ok:
            failures.append(Failure(mask(url), scrub(capture.reason(), url)))
    return failures


class _Capture(logging.Handler):
    """apprise's log records during one notify: its warnings say what failed, and a debug line
    holds the socket error ("[Errno 111] Connection refused") that says why."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.errnos: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = " ".join(record.getMessage().split())
        except Exception:  # a record whose arguments do not format: nothing to learn from it
            return
        if record.levelno >= logging.WARNING:
            self.lines.append(text)
        self.errnos += [m for m in _ERRNO.findall(text) if m not in self.errnos]

    def reason(self) -> str:
        lines = list(dict.fromkeys(self.lines)) or ["apprise reported failure without a reason"]
        text = "; ".join(lines)
        if self.errnos:
            text += f" ({'; '.join(e.strip() for e in self.errnos)})"
        return text


def scrub(text: str, url: str) -> str:
    """``text`` without any piece of ``url`` that may be secret: user, password, the host of
    a token scheme, path segments, query values (raw and percent-decoded)."""
    pieces: set[str] = {url}
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        pieces.update(p for p in (parts.username, parts.password, parts.fragment) if p)
        if parts.scheme.lower() not in SERVER_SCHEMES and host:
            pieces.add(host)
        pieces.update(seg for seg in parts.path.split("/") if seg)
        pieces.update(value for _, value in parse_qsl(parts.query) if value)
    except ValueError:
        pass
    pieces |= {unquote(p) for p in pieces}
    for piece in sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True):
        text = text.replace(piece, "…")
    return text[:REASON_LIMIT]


def _apprise():  # type: ignore[no-untyped-def]
    """Imported only when a schedule notifies; its log (which can quote URLs) never reaches the
    console: records go to no handler but the capture ``send`` adds for one notify."""
    import apprise

    log = logging.getLogger("apprise")
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())
    log.propagate = False
    log.setLevel(logging.DEBUG)  # the socket error is a debug record
    return apprise
