"""The stored-value API: tiers and policy, a member's balance and statement, counter recharge (cap, retry),
cash refund, gifts handed over once, reports — with store scoping."""

from __future__ import annotations

import pytest

from siyu.loyalty.services import stored_value as sv
from tests.api_support import assert_error
from tests.factories import recharge_rule, sv_recharge

pytestmark = pytest.mark.django_db


def test_tiers_and_policy(as_admin, as_clerk, store_a):
    created = as_admin.post(
        "/stored-value/tiers",
        {"name": "充一千", "threshold_fen": 100_000, "bonus_fen": 10_000, "store_ids": [store_a.pk]},
    )
    assert created.status_code == 201, created.content
    tier = created.json()
    assert tier["bonus_fen"] == 10_000 and tier["store_ids"] == [store_a.pk]
    assert_error(
        as_admin.post("/stored-value/tiers", {"name": "空", "threshold_fen": 100}),
        400,
        field="bonus_fen",
    )
    assert_error(as_clerk.post("/stored-value/tiers", {"name": "x", "threshold_fen": 1, "bonus_fen": 1}), 403)
    patched = as_admin.patch(f"/stored-value/tiers/{tier['id']}", {"gift": "保温杯", "active": False})
    assert patched.json()["gift"] == "保温杯" and patched.json()["active"] is False
    assert [t["id"] for t in as_clerk.get("/stored-value/tiers").json()] == [tier["id"]]
    policy = as_admin.patch("/stored-value/policy", {"cap_fen": 300_000, "bonus_spend": "proportional"})
    assert policy.json()["cap_fen"] == 300_000
    assert as_clerk.get("/stored-value/policy").json()["bonus_spend"] == "proportional"
    assert_error(as_clerk.patch("/stored-value/policy", {"cap_fen": 100}), 403)


def test_counter_recharge_cap_and_retry(as_clerk, member_a, store_a):
    recharge_rule(member_a.brand, 100_000, bonus_fen=10_000, gift="围巾")
    url = f"/members/{member_a.pk}/stored-value/recharge"
    first = as_clerk.post(url, {"amount_fen": 100_000}, headers={"Idempotency-Key": "r1"})
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["bonus_fen"] == 10_000 and body["gift"]["description"] == "围巾"
    again = as_clerk.post(url, {"amount_fen": 100_000}, headers={"Idempotency-Key": "r1"})
    assert again.status_code == 200 and again.json()["entry_ids"] == body["entry_ids"]
    assert_error(
        as_clerk.post(url, {"amount_fen": 5}, headers={"Idempotency-Key": "r1"}), 409, "idempotency_mismatch"
    )
    assert_error(
        as_clerk.post(url, {"amount_fen": 400_000}, headers={"Idempotency-Key": "r2"}), 409, "balance_cap"
    )
    balance = as_clerk.get(f"/members/{member_a.pk}/stored-value").json()
    assert (balance["principal_fen"], balance["bonus_fen"], balance["cap_fen"]) == (100_000, 10_000, 500_000)
    gift_id = balance["pending_gifts"][0]["id"]
    handed = as_clerk.post(f"/stored-value/gifts/{gift_id}/hand-over", {})
    assert handed.json()["status"] == "handed_over"
    assert_error(as_clerk.post(f"/stored-value/gifts/{gift_id}/hand-over", {}), 409, "gift_handed_over")
    entries = as_clerk.get(f"/members/{member_a.pk}/stored-value/entries").json()
    assert entries["count"] == 2 and {e["kind"] for e in entries["items"]} == {"recharge", "bonus"}


def test_cash_refund_needs_a_manager(as_clerk, as_manager, member_a):
    sv_recharge(member_a, 10_000)
    url = f"/members/{member_a.pk}/stored-value/refund"
    assert_error(
        as_clerk.post(url, {"amount_fen": 100, "reason": "x"}, headers={"Idempotency-Key": "k"}), 403
    )
    assert_error(
        as_manager.post(url, {"amount_fen": 10_001, "reason": "x"}, headers={"Idempotency-Key": "k"}),
        409,
        "insufficient_balance",
    )
    done = as_manager.post(url, {"amount_fen": 4_000, "reason": "退卡"}, headers={"Idempotency-Key": "k"})
    assert done.status_code == 201 and done.json()["principal_balance_fen"] == 6_000


def test_store_staff_do_not_reach_other_stores_members(as_clerk, as_manager, member_b, store_b):
    sv_recharge(member_b, 10_000, store=store_b)
    assert_error(as_clerk.get(f"/members/{member_b.pk}/stored-value"), 404)
    assert_error(as_clerk.get(f"/members/{member_b.pk}/stored-value/entries"), 404)
    assert_error(
        as_clerk.post(
            f"/members/{member_b.pk}/stored-value/recharge",
            {"amount_fen": 100},
            headers={"Idempotency-Key": "x"},
        ),
        404,
    )
    assert_error(
        as_manager.post(
            f"/members/{member_b.pk}/stored-value/refund",
            {"amount_fen": 100, "reason": "x"},
            headers={"Idempotency-Key": "x"},
        ),
        404,
    )
    assert as_manager.get("/stored-value/reports/outstanding").json()["principal_fen"] == 0
    assert sv.balance_of(member_b).principal_fen == 10_000


def test_reports(as_admin, as_clerk, member_a, member_b, store_b):
    sv_recharge(member_a, 20_000)
    sv_recharge(member_b, 30_000, store=store_b)
    sv.pay(member_a, 5_000, key="sys:t:1", store=member_a.home_store, source="order", source_ref="1")
    out = as_admin.get("/stored-value/reports/outstanding").json()
    assert (out["accounts"], out["principal_fen"]) == (2, 45_000)
    as_admin.patch("/stored-value/policy", {"custody_fen": 10_000, "custody_percent": 40})
    q = as_admin.get("/stored-value/reports/quarterly").json()
    assert (q["cards_issued"], q["recharged_fen"], q["redeemed_fen"]) == (2, 50_000, 5_000)
    assert q["outstanding_principal_fen"] == 45_000 and q["custody_ok"] is False
    assert q["custody_ratio_percent"] == pytest.approx(22.2)
    assert_error(as_clerk.get("/stored-value/reports/outstanding"), 403)
    assert_error(as_admin.get("/stored-value/reports/quarterly", {"year": 2100, "quarter": 4}), 400)
