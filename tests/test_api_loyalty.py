"""Staff loyalty API: earn rules, member points and ledger, adjustments, red packets, liability."""

from __future__ import annotations

import pytest

from siyu.loyalty.models import EarnRule, PointsEntry
from siyu.loyalty.services import points, red_packets
from tests.api_support import ApiClient, assert_error
from tests.factories import (
    MemberFactory,
    give_budget,
    give_coupon,
    give_points,
    in_group,
    make_coupon_template,
    make_group,
)


@pytest.fixture
def as_clerk_a(clerk_a):
    return ApiClient(clerk_a)


RULE = {
    "kind": "checkin",
    "name": "每日签到",
    "points": 5,
    "daily_cap": 1,
    "streak_bonus": [{"days": 7, "points": 20}, {"days": 30, "points": 100}],
    "makeup_cost": 20,
    "makeup_days": 5,
}


def test_rules_crud(as_admin, as_manager, store_a):
    created = as_admin.post("/loyalty/rules", {**RULE, "store_ids": [store_a.pk]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["streak_bonus"] == [{"days": 7, "points": 20}, {"days": 30, "points": 100}]
    assert body["makeup_cost"] == 20 and body["store_ids"] == [store_a.pk]
    rule = EarnRule.objects.get(pk=body["id"])
    assert rule.config == {"streak_bonus": {"7": 20, "30": 100}, "makeup_cost": 20, "makeup_days": 5}
    changed = as_admin.patch(f"/loyalty/rules/{rule.pk}", {"points": 8, "active": False, "daily_cap": None})
    assert (
        changed.status_code == 200 and changed.json()["points"] == 8 and changed.json()["daily_cap"] is None
    )
    assert not changed.json()["active"] and changed.json()["makeup_cost"] == 20
    assert [r["id"] for r in as_manager.get("/loyalty/rules").json()] == [rule.pk]
    assert_error(as_manager.post("/loyalty/rules", RULE), 403)
    assert_error(
        as_admin.post(
            "/loyalty/rules",
            {**RULE, "ends_at": "2026-01-01T00:00:00+08:00", "starts_at": "2026-02-01T00:00:00+08:00"},
        ),
        400,
        field="ends_at",
    )
    # streak bonuses belong to check-in rules only
    assert_error(as_admin.post("/loyalty/rules", {**RULE, "kind": "purchase"}), 400, field="streak_bonus")
    assert_error(as_admin.post("/loyalty/rules", {**RULE, "store_ids": [999999]}), 400, field="store_ids")
    assert_error(as_admin.get("/loyalty/rules/999999"), 404)


def test_purchase_rule_ignores_checkin_fields(as_admin):
    response = as_admin.post("/loyalty/rules", {"kind": "purchase", "name": "消费积分", "points": 1})
    assert response.status_code == 201 and response.json()["streak_bonus"] == []


def test_member_points_ledger_and_adjust(as_admin, as_manager, as_clerk_a, member_a, member_b):
    give_points(member_a, 30)
    ok = as_manager.post(
        f"/members/{member_a.pk}/points/adjust",
        {"points": -10, "reason": "补录"},
        headers={"Idempotency-Key": "a1"},
    )
    assert ok.status_code == 200, ok.content
    assert ok.json()["points"] == -10 and ok.json()["balance_after"] == 20
    again = as_manager.post(
        f"/members/{member_a.pk}/points/adjust",
        {"points": -10, "reason": "补录"},
        headers={"Idempotency-Key": "a1"},
    )
    assert again.json()["id"] == ok.json()["id"]
    assert points.balance_of(member_a).balance == 20
    # the same key from another staff member is another adjustment
    as_admin.post(
        f"/members/{member_a.pk}/points/adjust",
        {"points": -10, "reason": "补录"},
        headers={"Idempotency-Key": "a1"},
    )
    assert points.balance_of(member_a).balance == 10
    assert_error(
        as_manager.post(
            f"/members/{member_a.pk}/points/adjust",
            {"points": -5, "reason": "补录"},
            headers={"Idempotency-Key": "a1"},
        ),
        409,
        "idempotency_mismatch",
    )
    assert_error(
        as_manager.post(
            f"/members/{member_a.pk}/points/adjust",
            {"points": -100, "reason": "x"},
            headers={"Idempotency-Key": "a2"},
        ),
        409,
        "insufficient_points",
    )
    assert_error(
        as_manager.post(
            f"/members/{member_a.pk}/points/adjust",
            {"points": 5, "reason": " "},
            headers={"Idempotency-Key": "a3"},
        ),
        400,
        field="reason",
    )
    assert_error(as_manager.post(f"/members/{member_a.pk}/points/adjust", {"points": 5, "reason": "x"}), 400)
    assert_error(
        as_clerk_a.post(
            f"/members/{member_a.pk}/points/adjust",
            {"points": 5, "reason": "x"},
            headers={"Idempotency-Key": "c"},
        ),
        403,
    )
    assert_error(
        as_manager.post(
            f"/members/{member_b.pk}/points/adjust",
            {"points": 5, "reason": "x"},
            headers={"Idempotency-Key": "b"},
        ),
        404,
    )
    info = as_clerk_a.get(f"/members/{member_a.pk}/points").json()
    assert info["balance"] == 10 and info["owed"] == 0 and info["batches"][0]["remaining"] == 10
    ledger = as_clerk_a.get(f"/members/{member_a.pk}/points/entries").json()
    assert ledger["count"] == 3 and [e["kind"] for e in ledger["items"]] == ["adjust", "adjust", "earn"]
    assert_error(as_clerk_a.get(f"/members/{member_b.pk}/points"), 404)
    assert PointsEntry.objects.filter(kind="adjust").count() == 2


def test_red_packets_create_and_list(as_admin, as_manager, store_a, store_b):
    group = make_group(store_a)
    group_b = make_group(store_b, name="b")
    give_budget(store_a.brand, 100)
    created = as_manager.post(
        "/loyalty/red-packets",
        {"community_id": group.pk, "total": 50, "shares": 5},
        headers={"Idempotency-Key": "r1"},
    )
    assert created.status_code == 201, created.content
    again = as_manager.post(
        "/loyalty/red-packets",
        {"community_id": group.pk, "total": 50, "shares": 5},
        headers={"Idempotency-Key": "r1"},
    )
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    assert as_admin.get("/loyalty/budget").json() == {"remaining": 50}
    assert_error(
        as_manager.post(
            "/loyalty/red-packets",
            {"community_id": group_b.pk, "total": 5, "shares": 5},
            headers={"Idempotency-Key": "r2"},
        ),
        404,
    )
    assert_error(
        as_manager.post(
            "/loyalty/red-packets",
            {"community_id": group.pk, "total": 500, "shares": 5},
            headers={"Idempotency-Key": "r3"},
        ),
        409,
    )
    assert_error(
        as_manager.post(
            "/loyalty/red-packets",
            {"community_id": group.pk, "total": 3, "shares": 5},
            headers={"Idempotency-Key": "r4"},
        ),
        400,
        field="shares",
    )
    member = in_group(MemberFactory(brand=store_a.brand, home_store=store_a), group)
    red_packets.grab(member, created.json()["id"])
    listed = as_manager.get("/loyalty/red-packets").json()
    assert listed["count"] == 1 and listed["items"][0]["grabbed"] == 1
    assert as_manager.get(f"/loyalty/red-packets/{created.json()['id']}").json()["grabbed_points"] > 0


def test_liability_per_store(as_admin, as_manager, as_clerk_a, brand, store_a, store_b):
    a = MemberFactory(brand=brand, home_store=store_a)
    b = MemberFactory(brand=brand, home_store=store_b)
    give_points(a, 300)
    give_points(b, 50)
    report = as_admin.get("/loyalty/reports/liability", {"fen_per_point": "0.5"}).json()
    assert report["outstanding_points"] == 350 and report["value_fen"] == 175
    rows = {r["store_id"]: r for r in report["stores"]}
    assert rows[store_a.pk]["outstanding_points"] == 300 and rows[store_a.pk]["value_fen"] == 150
    mine = as_manager.get("/loyalty/reports/liability").json()
    assert [r["store_id"] for r in mine["stores"]] == [store_a.pk] and mine["value_fen"] == 300
    assert_error(as_clerk_a.get("/loyalty/reports/liability"), 403)
    assert_error(as_admin.get("/loyalty/reports/liability", {"fen_per_point": "abc"}), 400)


def test_coupon_report_api(as_admin, as_manager, brand, member_a, member_b, store_a):
    template = make_coupon_template(brand, amount_fen=500)
    give_coupon(template, member_a)
    give_coupon(template, member_b)
    body = as_admin.get("/loyalty/reports/coupons").json()
    assert sorted(r["issued"] for r in body["stores"]) == [1, 1] and body["campaigns"] == []
    mine = as_manager.get("/loyalty/reports/coupons", {"since": "2020-01-01T00:00:00+08:00"}).json()
    assert [r["store_id"] for r in mine["stores"]] == [store_a.pk]
    assert_error(as_admin.get("/loyalty/reports/coupons", {"since": "yesterday"}), 400)
