"""One way to name a run everywhere a command takes one: an id, `latest` or `latest-completed`.

Every command that takes a run (history show, resume, watch, export --run, sellers rank --run,
report --run) resolves it here, so the words mean the same thing everywhere and anything else
gets the same one-line error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collector_cli.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from collector_cli.store.db import Store

REFS = ("latest", "latest-completed")
HELP = "a run id, latest (the newest run) or latest-completed"
_MAX_ID = 2**63 - 1  # SQLite's largest integer


def parse(text: str, option: str = "RUN") -> int | str:
    """An id or one of REFS; anything else is a usage error that lists what is accepted."""
    word = text.strip().lower()
    if word in REFS:
        return word
    try:
        run_id = int(word)
    except ValueError:
        raise UsageError(f"invalid {option} {text!r}: use {HELP}") from None
    if not 1 <= run_id <= _MAX_ID:
        raise UsageError(f"invalid {option} {text!r}: use {HELP}")
    return run_id


def resolve(store: Store, text: str, option: str = "RUN") -> int:
    """The id of the run ``text`` names; an unknown id or no such run is "not found"."""
    ref = parse(text, option)
    if isinstance(ref, int):
        store.runs.get(ref)  # NotFoundError for an unknown id
        return ref
    sql = "SELECT max(id) FROM runs" + (" WHERE status = 'completed'" if ref != "latest" else "")
    row = store.query_one(sql)
    if row is None or row[0] is None:
        what = "no run yet" if ref == "latest" else "no completed run yet"
        raise NotFoundError(f"{what} (start one with: collector run --preset demo)")
    return int(row[0])
