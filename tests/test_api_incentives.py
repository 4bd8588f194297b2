"""Staff incentives API: rules, statements (list, detail, approve one or a store), store sums, generation,
leaderboards and "my month"; store scoping (404) and idempotent approval."""

from __future__ import annotations

import pytest

from siyu.incentives.models import StaffStatement
from siyu.incentives.services import statements
from tests.api_support import assert_error
from tests.factories import (
    MemberFactory,
    StaffFactory,
    attribute_members,
    attribute_sale,
    closed_month,
    standard_rules,
)

RULE = {
    "name": "拉新奖励",
    "kind": "invite",
    "valid_from": "2026-01",
    "tiers": [
        {"from_units": 0, "to_units": 50, "fen_per_unit": 100},
        {"from_units": 50, "fen_per_unit": 200},
    ],
}


@pytest.fixture
def month():
    return closed_month(2)


@pytest.fixture
def generated(brand, store_a, store_b, hq_admin, clerk_a, month):
    standard_rules(hq_admin)
    clerk_b = StaffFactory(brand=brand, username="clerkb", role="clerk", stores=[store_b])
    attribute_members(
        clerk_a, store_a, MemberFactory.create_batch(53, brand=brand, home_store=store_a), month
    )
    member = MemberFactory(brand=brand, home_store=store_b)
    attribute_members(clerk_b, store_b, [member], month)
    attribute_sale(clerk_b, store_b, member, 1_234_567, month)
    statements.generate_month(brand.pk, month)
    return {"a": StaffStatement.objects.get(staff=clerk_a), "b": StaffStatement.objects.get(staff=clerk_b)}


def test_rules_are_created_once_per_key_and_listed(as_admin, as_clerk):
    created = as_admin.post("/incentives/rules", RULE, headers={"Idempotency-Key": "r1"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert [t["fen_per_unit"] for t in body["tiers"]] == [100, 200] and body["tiers"][1]["to_units"] is None
    again = as_admin.post("/incentives/rules", RULE, headers={"Idempotency-Key": "r1"})
    assert again.json()["id"] == body["id"]
    assert_error(
        as_admin.post("/incentives/rules", {**RULE, "name": "x"}, headers={"Idempotency-Key": "r1"}),
        409,
        "idempotency_mismatch",
    )
    gap = {**RULE, "tiers": [{"from_units": 0, "to_units": 50, "fen_per_unit": 1}, {"from_units": 60}]}
    assert_error(as_admin.post("/incentives/rules", gap), 400, field="tiers")
    assert [r["id"] for r in as_admin.get("/incentives/rules").json()] == [body["id"]]
    assert_error(as_clerk.get("/incentives/rules"), 403)


def test_statements_detail_and_approval(as_admin, as_clerk, store_a, generated, month):
    label = f"{month:%Y-%m}"
    listed = as_admin.get("/incentives/statements", {"month": label}).json()
    assert {s["id"] for s in listed} == {generated["a"].pk, generated["b"].pk}
    detail = as_admin.get(f"/incentives/statements/{generated['a'].pk}").json()
    assert detail["reward_fen"] == 5_600 and sum(line["amount_fen"] for line in detail["lines"]) == 5_600
    first = as_admin.post(f"/incentives/statements/{generated['a'].pk}/approve")
    assert first.status_code == 200 and first.json()["status"] == "approved"
    second = as_admin.post(f"/incentives/statements/{generated['a'].pk}/approve")
    assert second.json() == first.json()
    assert_error(as_clerk.post(f"/incentives/statements/{generated['a'].pk}/approve"), 403)
    store = as_admin.post(f"/incentives/stores/{store_a.pk}/approve", {"month": label})
    assert store.json() == {"approved": 0}
    sums = as_admin.get("/incentives/stores", {"month": label}).json()
    assert sorted((s["invites"], s["reward_fen"]) for s in sums) == [(1, 100 + 12_346), (53, 5_600)]
    generated_now = as_admin.post("/incentives/generate", {"month": label}).json()
    assert generated_now["statements"] == 1  # store B's draft; A's approved statement is untouched


def test_store_staff_only_reach_their_own_store(as_clerk, as_manager, store_b, generated, month):
    label = f"{month:%Y-%m}"
    assert [s["id"] for s in as_clerk.get("/incentives/statements", {"month": label}).json()] == [
        generated["a"].pk
    ]
    assert_error(as_clerk.get(f"/incentives/statements/{generated['b'].pk}"), 404)
    assert_error(as_manager.get(f"/incentives/statements/{generated['b'].pk}"), 404)
    assert_error(as_manager.get("/incentives/statements", {"month": label, "store_id": store_b.pk}), 404)
    assert_error(as_manager.get("/incentives/leaderboard", {"month": label, "store_id": store_b.pk}), 404)
    assert_error(as_manager.get("/incentives/leaderboard", {"month": label}), 404)
    assert [s["store_id"] for s in as_manager.get("/incentives/stores", {"month": label}).json()] == [
        generated["a"].store_id
    ]


def test_leaderboard_and_my_month(as_admin, as_clerk, store_a, generated, month):
    label = f"{month:%Y-%m}"
    board = as_admin.get("/incentives/leaderboard", {"month": label, "metric": "gmv"}).json()
    assert [s["gmv_fen"] for s in board["standings"]] == [1_234_567, 0] and board["total_staff"] == 2
    store_board = as_clerk.get("/incentives/leaderboard", {"month": label, "store_id": store_a.pk}).json()
    assert [s["invites"] for s in store_board["standings"]] == [53]
    mine = as_clerk.get("/incentives/me", {"month": label}).json()
    assert (mine["invites"], mine["reward_fen"], mine["chain_rank"], mine["chain_size"]) == (53, 5_600, 2, 2)
    assert_error(as_clerk.get("/incentives/me", {"month": "2026-13"}), 400, field="month")
