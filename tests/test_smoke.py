from tests.conftest import connect


def test_demo_run_completes(cli, db_path):
    result = cli("run", "--preset", "demo")
    assert result.exit_code == 0, result.stderr
    assert "completed" in result.stdout
    conn = connect(db_path)
    run = conn.execute("SELECT * FROM runs").fetchone()
    assert run["status"] == "completed"
    assert run["listings_seen"] > 1000
    assert 0 < run["sellers_found"] < run["listings_seen"]
