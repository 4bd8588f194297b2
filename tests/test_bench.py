import json
import os

import pytest
import redis
from django.core.management import call_command

from tests.server_support import serving


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


def _bench_against(served, monkeypatch, capsys, *extra):
    # The bench's steps run in child processes with this environment: the running server's.
    for name in ("SIYU_VAR_DIR", "SIYU_FLASH_REDIS_PREFIX", "SIYU_FLASH_ALLOW_VOLATILE_REDIS"):
        monkeypatch.setenv(name, served.env[name])
    monkeypatch.delenv("DATABASE_URL", raising=False)
    if served.env.get("REDIS_URL"):
        monkeypatch.setenv("REDIS_URL", served.env["REDIS_URL"])
    else:
        monkeypatch.delenv("REDIS_URL", raising=False)
    call_command(
        "bench",
        "flash-sale",
        "--url",
        served.url,
        "--buyers",
        "40",
        "--stock",
        "15",
        "--concurrency",
        "6",
        *extra,
    )
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_bench_flash_sale_twice_against_one_running_server(tmp_path, capsys, monkeypatch):
    # Each run seeds its own brand, store code and buyers' mobiles; both are audited as reconciled.
    with serving(tmp_path) as served:
        first = _bench_against(served, monkeypatch, capsys)
        second = _bench_against(served, monkeypatch, capsys)
        if os.environ.get("REDIS_URL"):
            # --url honours the Redis key prefix of the environment (the server's), not a bench prefix.
            client = redis.Redis.from_url(os.environ["REDIS_URL"])
            assert client.exists(f"{served.env['SIYU_FLASH_REDIS_PREFIX']}:sales")
    assert first["run"] != second["run"]
    for result in (first, second):
        assert result["backend"] == ("redis" if os.environ.get("REDIS_URL") else "sqlite")
        assert (result["orders"], result["unwritten"], result["lost"], result["duplicates"]) == (15, 0, 0, 0)
        assert result["errors"] == 0 and result["reconciled"] is True, result


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
def test_bench_flash_sale_reports_unwritten_purchases_when_no_writer_runs(tmp_path, capsys, monkeypatch):
    # A server without its scheduler: purchases are admitted in Redis and nothing writes them behind. The
    # audit only reads, so it must say so instead of writing them itself.
    with serving(tmp_path, scheduler=False) as served:
        result = _bench_against(served, monkeypatch, capsys, "--audit-timeout", "2")
    assert result["orders"] == 0 and result["unwritten"] == 15 and result["waiting_in_redis"] == 15
    assert result["reconciled"] is False
