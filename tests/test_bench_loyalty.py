"""``siyu bench loyalty`` at toy sizes: the harness and the audited invariants, not the speed."""

from __future__ import annotations

import json

from django.core.management import call_command
from django.test import Client


def test_healthz_is_a_constant_answer(db):
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.content == b"ok"


def test_bench_loyalty_prints_audited_json(capsys, monkeypatch):
    # A real server on a scratch SQLite database: 40 members check in over HTTP (every tenth twice), then the
    # expiry job over 1,000 batches seeded by SQL.
    monkeypatch.setenv("SIYU_BENCH_SETTLE_SECONDS", "0")
    call_command(
        "bench",
        "loyalty",
        *("--members", "40", "--concurrency", "6", "--batches", "1000", "--templates", "30", "--wallet", "8"),
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    checkin = result["checkin"]
    assert result["backend"] == "sqlite"
    assert checkin["requests"] == 44 and checkin["errors"] == 0 and checkin["answered"] == 44
    assert (checkin["checkins"], checkin["members_checked_in"], checkin["duplicates"]) == (40, 40, 0)
    assert checkin["client_checked_in"] == 40 and checkin["client_already_today"] == 4
    assert checkin["points_total"] == checkin["points_expected"] and checkin["unbalanced_accounts"] == 0
    assert checkin["ceiling_per_s"] and checkin["p99_ms"] is not None
    expiry = result["expiry"]
    assert (expiry["batches"], expiry["due"], expiry["expired"]) == (1000, 900, 900)
    assert (
        expiry["due_left"] == 0 and expiry["unbalanced_accounts"] == 0 and expiry["second_run_expired"] == 0
    )
    pricing = result["pricing"]
    assert pricing["wallet"] == 8 and pricing["usable_offers"] > 0 and pricing["p95_ms"] > 0
    assert pricing["priced_total_fen"] == pricing["cart_fen"] - pricing["best_discount_fen"]
