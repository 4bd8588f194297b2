import json

from django.core.management import call_command


def test_bench_import_prints_json(capsys):
    # Runs in a child process against a scratch SQLite database; the test database is untouched.
    call_command("bench", "import", "--rows", "30")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["bench"] == "import" and result["rows"] == 30
    assert result["status"] == "imported" and result["created"] == 30
    assert (result["reimport_created"], result["reimport_updated"]) == (0, 0)


def test_bench_flash_sale_over_http_prints_audited_json(capsys, monkeypatch):
    # A real server (gunicorn + scheduler) on a scratch SQLite database, driven over HTTP; figures audited
    # from the database. Small sizes: this checks the harness and the invariants, not the speed.
    monkeypatch.setenv("SIYU_BENCH_SETTLE_SECONDS", "0")
    call_command("bench", "flash-sale", "--buyers", "60", "--stock", "20", "--concurrency", "8", "--no-redis")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in (
        "attempts",
        "orders",
        "sold_out",
        "errors",
        "oversold",
        "duplicates",
        "limit_violations",
        "attempts_per_s",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "backend",
        "baseline_per_s",
        "ratio",
    ):
        assert key in result, key
    assert result["backend"] == "sqlite" and result["attempts"] == 60 + 6 * 2
    assert (result["orders"], result["oversold"], result["duplicates"], result["limit_violations"]) == (
        20,
        0,
        0,
        0,
    )
    assert result["errors"] == 0 and result["lost"] == 0 and result["reconciled"] is True
