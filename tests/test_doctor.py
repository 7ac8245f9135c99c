"""`collector doctor` (issue 14 C9): a real store file, the API emulators, a crontab file.

The cron daemon half (a stopped daemon, then a started one) runs inside the private cron
namespace: tests/test_cron_daemon_detection.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from collector_cli import config
from tests.conftest import EBAY_ID, EBAY_SECRET, OXY_PASS, OXY_USER, dump

SECRETS = (OXY_USER, OXY_PASS, EBAY_ID, EBAY_SECRET)


@pytest.fixture(autouse=True)
def crontab_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "crontab"
    monkeypatch.setenv("COLLECTOR_CRONTAB", str(path))
    return path


def ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr}{result.stdout}"
    return result.stdout


def checks(cli, *args: str) -> tuple[int, dict[str, dict]]:  # type: ignore[no-untyped-def]
    """Exit code and check name → check object of `doctor --json`."""
    result = cli("doctor", "--json", *args)
    rows = json.loads(result.stdout)
    assert all(set(row) == {"check", "status", "message", "fix"} for row in rows), rows
    return result.exit_code, {row["check"]: row for row in rows}


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_missing_store_is_reported_and_not_created(cli, db_path, tmp_path) -> None:
    before = files_under(tmp_path)

    result = cli("doctor")

    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert f"! store: no store at {db_path} yet — `collector run` creates it" in result.stdout
    assert any(line.startswith("✓ version: collector ") for line in lines), lines
    assert not any(line.startswith("✗") for line in lines), lines
    assert not db_path.exists() and not db_path.parent.exists()
    assert files_under(tmp_path) == before
    code, found = checks(cli)
    assert code == 0
    assert found["store"]["status"] == "warn"
    assert found["crontab"]["status"] == "skip"
    assert found["disk"]["status"] in ("ok", "warn")
    assert "schema" not in found and "integrity" not in found


def test_healthy_store_is_checked_read_only(cli, db_path) -> None:
    ok(cli("run", "--preset", "demo", "--max-products", "5"))
    before, files = dump(db_path), files_under(db_path.parent)

    _code, found = checks(cli)

    assert found["store"]["status"] == "ok" and str(db_path) in found["store"]["message"]
    assert found["schema"] == {"check": "schema", "status": "ok", "fix": None,
                               "message": "6 of 6 migrations applied"}  # fmt: skip
    assert found["integrity"]["message"] == "PRAGMA quick_check: ok"
    assert found["wal"]["status"] == "ok"
    assert found["crontab"]["status"] == "ok"
    assert dump(db_path) == before
    assert files_under(db_path.parent) == files, "doctor left -wal/-shm files behind"


def test_store_written_by_a_newer_collector_fails(cli, db_path) -> None:
    ok(cli("run", "--preset", "demo", "--max-products", "1"))
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
                     " VALUES ('collector', 'm999_future', '2030-01-01')")  # fmt: skip
    conn.close()

    result = cli("doctor")

    assert result.exit_code == 1
    assert "✗ schema: written by a newer collector (m999_future) — upgrade collector" in (
        result.stdout
    )


def test_corrupt_store_fails(cli, db_path) -> None:
    ok(cli("run", "--preset", "demo", "--max-products", "20"))
    data = bytearray(db_path.read_bytes())
    page = 4096
    for offset in range(2 * page, min(len(data), 6 * page), 7):  # garble pages 3-6
        data[offset] ^= 0x5A
    db_path.write_bytes(bytes(data))

    result = cli("doctor")

    assert result.exit_code == 1, result.stdout
    bad = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    assert bad and all(line.startswith(("✗ store:", "✗ integrity:")) for line in bad), bad


def test_config_with_secrets_readable_by_others_fails(cli, config_path) -> None:
    config_path.write_text(f'[oxylabs]\nusername = "{OXY_USER}"\npassword = "{OXY_PASS}"\n',
                           encoding="utf-8")  # fmt: skip
    config_path.chmod(0o644)
    config.load.cache_clear()

    result = cli("doctor")

    assert result.exit_code == 1
    assert (
        f"✗ config: {config_path} is mode 0644 but holds oxylabs.username, oxylabs.password"
        f" — run chmod 600 {config_path}"
    ) in result.stdout
    assert "✓ source oxylabs: credentials set (config file)" in result.stdout
    assert not any(secret in result.stdout + result.stderr for secret in SECRETS)

    config_path.chmod(0o600)
    _code, found = checks(cli)
    assert found["config"]["status"] == "ok"
    assert "mode 0600, holds oxylabs.username, oxylabs.password" in found["config"]["message"]


def test_config_without_secrets_may_be_0644(cli, config_path) -> None:
    config_path.chmod(0o644)
    _code, found = checks(cli)
    assert found["config"]["status"] == "ok", found["config"]
    assert "mode 0644, holds no secrets" in found["config"]["message"]


def test_live_check_gets_an_ebay_token_and_leaves_oxylabs_opt_in(
    cli, real_env, oxylabs, ebay
) -> None:
    result = cli("doctor", "--check")

    out = result.stdout
    assert "✓ source ebay: credentials set (environment)" in out
    assert "✓ source ebay live: eBay issued a token at" in out
    assert ebay.token_calls == 1 and ebay.search_calls == 0
    assert (
        "- source oxylabs live: not tried: Oxylabs bills every request that reaches it (this"
        " one: 1 billed result, about $0.0004 at price_per_1k 0.4) — add --check-billed"
    ) in out
    assert oxylabs.jobs == 0
    assert not any(secret in out + result.stderr for secret in SECRETS)

    _code, found = checks(cli, "--check", "--check-billed")
    assert found["source oxylabs live"]["status"] == "ok", found["source oxylabs live"]
    assert "credentials accepted: 50 best sellers listed" in found["source oxylabs live"]["message"]
    assert "spent $0.0004" in found["source oxylabs live"]["message"]
    assert oxylabs.jobs == 1


def test_live_check_reports_rejected_credentials(cli, real_env, monkeypatch, ebay) -> None:
    monkeypatch.setenv("COLLECTOR_EBAY_CLIENT_SECRET", "wrong-Secret-55")

    result = cli("doctor", "--check")

    assert result.exit_code == 1
    [line] = [ln for ln in result.stdout.splitlines() if ln.startswith("✗ source ebay live")]
    assert "eBay rejected the client credentials (HTTP 401" in line
    assert "wrong-Secret-55" not in result.stdout + result.stderr


def test_crontab_drift_is_reported_without_writing(cli, crontab_file) -> None:
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "@daily", "--name", "daily"))
    crontab_file.write_text("# emptied by hand\n", encoding="utf-8")

    result = cli("doctor")

    assert result.exit_code == 1
    assert (
        f"✗ crontab: {crontab_file} is out of date: schedule 1 missing — run `collector"
        " schedule sync`"
    ) in result.stdout
    assert crontab_file.read_text(encoding="utf-8") == "# emptied by hand\n"


def test_schedule_without_credentials_in_its_config_fails(cli) -> None:
    ok(cli("preset", "add", "real", "-c", "electronics-headphones", "--product-source",
           "oxylabs", "--listing-source", "oxylabs-ebay"))  # fmt: skip
    for key, value in (("oxylabs.username", OXY_USER), ("oxylabs.password", OXY_PASS)):
        ok(cli("config", "set", key, "-", input=value + "\n"))
    ok(cli("schedule", "add", "--preset", "real", "--cron", "@daily", "--name", "nightly"))
    code, found = checks(cli)
    assert found["schedules"]["status"] == "ok"

    ok(cli("config", "unset", "oxylabs.password"))
    code, found = checks(cli)

    assert code == 1
    item = found["schedule 1 (nightly)"]
    assert item["status"] == "fail"
    assert item["message"].startswith(
        "will fail: the oxylabs and oxylabs-ebay sources need oxylabs.password in the config file"
    )
    assert found["source oxylabs"]["status"] == "warn"  # a preset uses it


def test_unwritable_log_folder_fails(cli, tmp_path, monkeypatch) -> None:
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "@daily"))
    blocker = tmp_path / "state-is-a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))  # the log folder cannot be made

    code, found = checks(cli)

    assert code == 1
    assert found["schedule logs"]["status"] == "fail"
    assert "cannot log runs" in found["schedule logs"]["message"]


def test_doctor_help_documents_the_exit_code(cli) -> None:
    result = cli("doctor", "--help")
    assert result.exit_code == 0
    assert "1 at least one check failed" in " ".join(result.stdout.split())
    assert os.environ.get("COLLECTOR_DB")  # the suite's store, never the user's
