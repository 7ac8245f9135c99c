"""Notifications after scheduled runs, delivered to real local endpoints.

A JSON webhook receiver (http.server) and an SMTP server (aiosmtpd) listen on 127.0.0.1; a
closed port stands for a dead endpoint. The crontab is a temp file (COLLECTOR_CRONTAB).
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import connect, dump, subprocess_env


@pytest.fixture(autouse=True)
def crontab_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "crontab"
    monkeypatch.setenv("COLLECTOR_CRONTAB", str(path))
    return path


def free_port() -> int:
    """A port nobody listens on (bound, then closed again)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def receiver() -> Iterator[SimpleNamespace]:
    """A webhook endpoint recording every POST: path, headers and the JSON body."""
    posts: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            posts.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(raw)}
            )
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(port=server.server_address[1], posts=posts)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def smtp_server() -> Iterator[SimpleNamespace]:
    """A plain (no TLS) SMTP server that accepts AUTH for user/secret-pass and keeps mails."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    mails: list[dict] = []
    logins: list[tuple[bytes, bytes]] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
            mails.append(
                {
                    "from": envelope.mail_from,
                    "to": list(envelope.rcpt_tos),
                    "authenticated": session.authenticated,
                    "message": email.message_from_bytes(
                        envelope.original_content, policy=email.policy.default
                    ),
                }
            )
            return "250 Message accepted"

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:  # type: ignore[no-untyped-def]
        logins.append((auth_data.login, auth_data.password))
        ok = auth_data.login == b"user" and auth_data.password == b"secret-pass"
        return AuthResult(success=ok)

    port = free_port()
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,  # plain SMTP on loopback: let AUTH happen without STARTTLS
    )
    controller.start()
    try:
        yield SimpleNamespace(port=port, mails=mails, logins=logins)
    finally:
        controller.stop()


def runs(db_path: Path) -> list[dict]:
    conn = connect(db_path)
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY id")]
    finally:
        conn.close()


def events(db_path: Path, kind: str | None = None) -> list[dict]:
    conn = connect(db_path)
    try:
        rows = conn.execute("SELECT * FROM events ORDER BY id").fetchall()
    finally:
        conn.close()
    return [dict(r) for r in rows if kind is None or r["kind"] == kind]


def add_schedule(cli, preset: str, name: str, *urls: str) -> int:  # type: ignore[no-untyped-def]
    notify = [arg for url in urls for arg in ("--notify", url)]
    result = cli("schedule", "add", "--preset", preset, "--cron", "0 3 * * *", "--name", name,
                 *notify)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    listed = json.loads(cli("schedule", "list", "--json").stdout)
    return next(row["id"] for row in listed if row["name"] == name)


# -- json:// -----------------------------------------------------------------------------------


def test_json_receiver_gets_the_run_summary(cli, db_path, receiver) -> None:
    url = f"json://hook-user:hook-pass@127.0.0.1:{receiver.port}/hooks/collector"
    schedule_id = add_schedule(cli, "demo", "nightly", url)
    assert receiver.posts == [], "adding a schedule must not notify"

    result = cli("schedule", "run", "nightly")

    assert result.exit_code == 0, result.stderr
    [run] = runs(db_path)
    assert run["status"] == "completed"
    assert run["trigger"] == f"schedule:{schedule_id}"
    assert len(receiver.posts) == 1, receiver.posts
    post = receiver.posts[0]
    assert post["path"] == "/hooks/collector"
    # The stored URL is the whole one: its credentials reach the endpoint (HTTP basic auth).
    auth = post["headers"].get("Authorization", "")
    assert base64.b64decode(auth.removeprefix("Basic ")) == b"hook-user:hook-pass"
    title, body = post["json"]["title"], post["json"]["message"]
    assert "nightly" in title
    assert f"#{run['id']}" in title
    assert "completed" in title
    lines = body.splitlines()
    assert lines[0].startswith(f"Run #{run['id']} (demo) completed")
    assert f"  sellers     {run['sellers_found']:,} found, {run['sellers_new']:,} new" in lines
    assert f"{run['products_done']:,} searched, 0 failed" in body
    assert events(db_path, "notify_failed") == []


def test_partially_failed_run_notifies_with_failures(cli, db_path, receiver) -> None:
    """Four of the five product searches rejected: the run completes with failures (exit 5)
    and the notification says so (a run where every product failed is failed, issue 14)."""
    result = cli("preset", "add", "rejected", "-c", "electronics-headphones", "--max-products",
                 "5", "-o", "sample.fatal_rate=0.5")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    add_schedule(cli, "rejected", "rejected-nightly", f"json://127.0.0.1:{receiver.port}/hook")

    result = cli("schedule", "run", "rejected-nightly")

    assert result.exit_code == 5, result.stderr
    [run] = runs(db_path)
    assert run["products_failed"] == 4
    [post] = receiver.posts
    title, body = post["json"]["title"], post["json"]["message"]
    assert "rejected-nightly" in title and f"#{run['id']}" in title
    assert "fail" in title, f"a run with failed products notified as a plain success: {title!r}"
    assert "completed with 4 failed products/categories" in body.splitlines()[0]
    assert "1 searched, 4 failed" in body
    assert f"collector resume {run['id']} --retry-failed" in body


def test_failed_run_notifies_failure(cli, db_path, receiver) -> None:
    """Every best-seller list fails (a 503 on each request, retries included): the run fails
    (exit 1) and the notification's title and body say it failed."""
    result = cli("preset", "add", "down", "-c", "electronics-headphones", "--max-products", "3",
                 "-o", "sample.error_rate=1")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    add_schedule(cli, "down", "down-hourly", f"json://127.0.0.1:{receiver.port}/hook")

    result = cli("schedule", "run", "down-hourly")

    assert result.exit_code == 1, result.stderr
    [run] = runs(db_path)
    assert run["status"] == "failed"
    [post] = receiver.posts
    title, body = post["json"]["title"], post["json"]["message"]
    assert title.endswith(f"run #{run['id']} failed"), title
    assert body.splitlines()[0].startswith(f"Run #{run['id']} (down) failed")
    assert "every category failed to list its products" in body
    assert "0 listed, 1 failed of 1" in body


# -- mailto:// ---------------------------------------------------------------------------------


def test_mailto_delivers_the_summary_to_a_local_smtp_server(cli, db_path, smtp_server) -> None:
    # Plain SMTP on a custom port: mailto:// (not mailtos://), mode=insecure (no STARTTLS), and
    # a from= address, since apprise rejects the default user@127.0.0.1 as a sender.
    url = (f"mailto://user:secret-pass@127.0.0.1:{smtp_server.port}"
           "?to=ops@example.com&from=collector@example.com&mode=insecure")  # fmt: skip
    add_schedule(cli, "demo", "mailed", url)

    result = cli("schedule", "run", "mailed")

    assert result.exit_code == 0, result.stderr
    assert events(db_path, "notify_failed") == []
    [run] = runs(db_path)
    assert smtp_server.logins == [(b"user", b"secret-pass")]
    assert len(smtp_server.mails) == 1, smtp_server.mails
    mail = smtp_server.mails[0]
    assert mail["authenticated"]
    assert mail["to"] == ["ops@example.com"]
    assert mail["from"] == "collector@example.com"
    message = mail["message"]
    assert "mailed" in message["Subject"] and f"#{run['id']}" in message["Subject"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    lines = [line.rstrip() for line in text.splitlines()]
    # The summary keeps its lines (a mail client shows it as the terminal does).
    assert lines[0].startswith(f"Run #{run['id']} (demo) completed"), text
    assert any(
        line.strip() == f"sellers {run['sellers_found']:,} found, {run['sellers_new']:,} new"
        for line in lines
    ), text
    html = message.get_body(preferencelist=("html",))
    if html is not None:  # apprise also sends an HTML part: the line breaks must survive there
        assert "<br" in html.get_content(), html.get_content()


# -- a dead endpoint ---------------------------------------------------------------------------

SECRETS = ("hook-user", "Dead-Pass-9xQ", "Path-Token-4kW", "mail-user", "Mail-Pass-7vR",
           "Rcpt-Token-2mB")  # fmt: skip


def test_dead_endpoint_does_not_fail_the_run_and_stays_masked(
    cli, db_path, config_path, crontab_file
) -> None:
    port = free_port()  # closed: connection refused
    urls = [
        f"json://hook-user:Dead-Pass-9xQ@127.0.0.1:{port}/hooks/Path-Token-4kW",
        f"mailto://mail-user:Mail-Pass-7vR@127.0.0.1:{port}/Rcpt-Token-2mB@example.com"
        "?from=collector@example.com&mode=insecure",
    ]
    added = cli("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "dead",
                "--notify", urls[0], "--notify", urls[1])  # fmt: skip
    assert added.exit_code == 0, added.stderr

    # A real process, so stdout/stderr are exactly what a user (or the cron log) would see.
    proc = subprocess.run(
        [sys.executable, "-m", "collector_cli", "schedule", "run", "dead"],
        env=subprocess_env(db_path, config_path),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert proc.returncode == 0, proc.stderr
    [run] = runs(db_path)
    assert run["status"] == "completed"
    assert "Run #1 (demo) completed" in proc.stdout + proc.stderr
    failed = events(db_path, "notify_failed")
    assert len(failed) == 2, failed
    assert {e["level"] for e in failed} == {"warning"}
    assert {e["run_id"] for e in failed} == {run["id"]}
    messages = sorted(e["message"] for e in failed)
    assert "json://127.0.0.1/…" in messages[0]
    assert "mailto://127.0.0.1/…" in messages[1]

    outputs = {
        "add stderr": added.stderr,
        "add stdout": added.stdout,
        "run stdout": proc.stdout,
        "run stderr": proc.stderr,
        "events": json.dumps(events(db_path), ensure_ascii=False),
        "crontab": crontab_file.read_text(encoding="utf-8"),
    }
    for args in (("schedule", "list"), ("schedule", "list", "--json"), ("schedule", "show", "dead"),
                 ("schedule", "show", "dead", "--json"), ("history",)):  # fmt: skip
        shown = cli(*args)
        assert shown.exit_code == 0, shown.stderr
        outputs[" ".join(args)] = shown.stdout + shown.stderr
    shown = json.loads(cli("schedule", "show", "dead", "--json").stdout)
    assert [url.split("#")[0] for url in shown["notify"]] == [
        "json://127.0.0.1/…",
        "mailto://127.0.0.1/…",
    ]
    for where, text in outputs.items():
        leaked = [s for s in SECRETS if s in text]
        assert not leaked, f"{where} shows {leaked}:\n{text}"


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "urls",
    [
        ["not-a-url"],
        ["json://127.0.0.1:9/fine", "not-a-url"],
        ["bogus://bad-user:Bad-Pass-3Zt@example.com/Tok-8Hy"],
    ],
)
def test_invalid_notify_url_is_a_usage_error(cli, db_path, crontab_file, urls) -> None:
    add_schedule(cli, "demo", "existing")
    before, table_before = dump(db_path), crontab_file.read_text(encoding="utf-8")
    notify = [arg for url in urls for arg in ("--notify", url)]

    result = cli("schedule", "add", "--preset", "demo", "--cron", "@daily", "--name", "other",
                 *notify)  # fmt: skip

    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "--notify" in result.stderr
    for secret in ("bad-user", "Bad-Pass-3Zt", "Tok-8Hy"):
        assert secret not in result.stderr
    assert dump(db_path) == before
    assert crontab_file.read_text(encoding="utf-8") == table_before
