"""API for recharge slots: setup and publish (HQ), report, find and convert at the counter (store-scoped,
idempotent), errors in the house format."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.campaigns.models import SlotStatus
from tests.api_support import ApiClient, assert_error
from tests.factories import StaffFactory, buy_slot, recharge_rule, running_slot_campaign

pytestmark = pytest.mark.usefixtures("flash_caches", "sandbox", "database_backend")


@pytest.fixture
def slots(hq_admin, store_a, store_b):
    recharge_rule(hq_admin.brand, 300_000, gift="空气净化器")
    return running_slot_campaign(hq_admin, store_ids=[store_a.pk, store_b.pk])


def test_head_office_creates_and_publishes(as_admin, as_clerk, store_a):
    now = timezone.now()
    body = {
        "title": "¥11 名额",
        "starts_at": (now + timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=3)).isoformat(),
        "convert_until": (now + timedelta(days=7)).isoformat(),
        "deposit_fen": 1100,
        "slots": 100,
        "threshold_fen": 300_000,
        "gift_text": "空气净化器",
        "store_ids": [store_a.pk],
    }
    assert_error(as_clerk.post("/recharge-slots/campaigns", body), 403)
    assert_error(
        as_admin.post("/recharge-slots/campaigns", {**body, "deposit_fen": 0}), 400, field="deposit_fen"
    )
    created = as_admin.post("/recharge-slots/campaigns", body)
    assert created.status_code == 201, created.content
    out = created.json()
    assert (out["status"], out["slots"], out["deposit_fen"], out["unused_policy"]) == (
        "draft",
        100,
        1100,
        "refund",
    )
    published = as_admin.post(f"/recharge-slots/campaigns/{out['id']}/publish")
    assert published.status_code == 200 and published.json()["status"] == "published"
    listed = as_clerk.get("/recharge-slots/campaigns").json()
    assert [c["id"] for c in listed["items"]] == [out["id"]]


def test_counter_find_convert_and_report(slots, member_a, store_a, clerk_a, as_clerk, as_admin):
    slot = buy_slot(slots, member_a, store_a)
    found = as_clerk.get("/recharge-slots/find", {"q": "13812341234"}).json()
    assert [s["id"] for s in found] == [slot.pk] and found[0]["mobile"] != "13812341234"
    path = f"/recharge-slots/{slot.pk}/convert"
    assert_error(
        as_clerk.post(path, {"amount_fen": 1000}, headers={"Idempotency-Key": "a"}), 400, field="amount_fen"
    )
    assert_error(as_clerk.post(path, {"amount_fen": 300_000}), 400)  # no key
    done = as_clerk.post(path, {"amount_fen": 300_000}, headers={"Idempotency-Key": "b"})
    assert done.status_code == 200, done.content
    body = done.json()
    assert (
        body["gift"] == "空气净化器"
        and body["credited_fen"] == 301_100
        and body["slot"]["status"] == "converted"
    )
    again = as_clerk.post(path, {"amount_fen": 300_000}, headers={"Idempotency-Key": "b"})
    assert again.status_code == 200 and again.json()["principal_fen"] == 301_100
    assert_error(
        as_clerk.post(path, {"amount_fen": 300_000}, headers={"Idempotency-Key": "c"}), 409, "not_held"
    )
    rep = as_admin.get(f"/recharge-slots/campaigns/{slots.pk}/report").json()
    assert (rep["sold"], rep["converted"], rep["recharge_fen"], rep["gifts_earned"]) == (1, 1, 300_000, 1)


def test_other_stores_slot_is_404(slots, member_a, store_a, brand, store_b):
    slot = buy_slot(slots, member_a, store_a)
    as_b = ApiClient(StaffFactory(brand=brand, username="clerkb", role="clerk", stores=[store_b]))
    assert as_b.get("/recharge-slots/find", {"q": "13812341234"}).json() == []
    response = as_b.post(
        f"/recharge-slots/{slot.pk}/convert", {"amount_fen": 300_000}, headers={"Idempotency-Key": "x"}
    )
    assert_error(response, 404)
    slot.refresh_from_db()
    assert slot.status == SlotStatus.HELD
