"""Staff incentives: a monthly statement equals a hand-computed example with tiers, is frozen once HQ
approves it, and what arrives later for that month goes to a later statement as adjustments."""

from __future__ import annotations

import pytest

from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.incentives.models import LineKind, StaffStatement
from siyu.incentives.services import leaderboards, statements
from siyu.incentives.services.months import current_month, next_month
from siyu.incentives.services.rules import create_rule
from tests.factories import (
    MemberFactory,
    StaffFactory,
    attribute_members,
    attribute_refund,
    attribute_sale,
    closed_month,
    standard_rules,
)


@pytest.fixture
def month():
    return closed_month(2)


@pytest.fixture
def example(brand, store_a, hq_admin, clerk_a, month):
    """clerk A brought 53 members in ``month``; their paid orders total ¥12,345.67 (1,000,000 + 234,567)."""
    standard_rules(hq_admin)
    members = MemberFactory.create_batch(53, brand=brand, home_store=store_a)
    attribute_members(clerk_a, store_a, members, month)
    big = attribute_sale(clerk_a, store_a, members[0], 1_000_000, month)
    small = attribute_sale(clerk_a, store_a, members[1], 234_567, month)
    return {"members": members, "big": big, "small": small}


def lines_of(statement):
    return [
        (line.kind, line.tier_position, line.units, line.rate, line.amount_fen, line.for_month)
        for line in statements.statement_lines(statement)
    ]


def test_statement_equals_the_hand_computed_example(brand, store_a, clerk_a, example, month):
    result = statements.generate_month(brand.pk, month)
    assert (result.statements, result.claimed) == (1, 55)
    statement = StaffStatement.objects.get(staff=clerk_a, month=month)
    # 53 invites: 50 × ¥1 + 3 × ¥2 = ¥56.00; ¥12,345.67 × 1% = ¥123.4567 → ¥123.46 (half up, to the fen).
    assert sorted(lines_of(statement), key=str) == sorted(
        [
            (LineKind.GMV_SHARE, 1, 1_234_567, 100, 12_346, None),
            (LineKind.INVITE, 1, 50, 100, 5_000, None),
            (LineKind.INVITE, 2, 3, 200, 600, None),
        ],
        key=str,
    )
    assert (statement.invite_count, statement.gmv_fen, statement.adjustment_fen) == (53, 1_234_567, 0)
    assert statement.reward_fen == 5_000 + 600 + 12_346 == 17_946
    assert statement.store_id == store_a.pk and statement.status == StaffStatement.Status.DRAFT
    # Generating again changes nothing but the version.
    statements.generate_month(brand.pk, month)
    again = StaffStatement.objects.get(pk=statement.pk)
    assert (again.reward_fen, lines_of(again) == lines_of(statement)) == (17_946, True)
    assert again.version == statement.version + 1


def test_approved_statement_is_frozen_and_late_items_become_next_months_adjustments(
    brand, store_a, hq_admin, clerk_a, example, month
):
    statements.generate_month(brand.pk, month)
    statement = StaffStatement.objects.get(staff=clerk_a, month=month)
    approved = statements.approve_statement(hq_admin, statement.pk)
    assert approved.status == StaffStatement.Status.APPROVED and approved.approved_by_id == hq_admin.pk
    frozen_lines = lines_of(approved)
    # A late paid order placed that month (¥100.00), and a refund of that month's ¥2,345.67 order.
    late_member = MemberFactory(brand=brand, home_store=store_a)
    attribute_sale(clerk_a, store_a, late_member, 10_000, month)
    attribute_refund(clerk_a, store_a, example["members"][1], 234_567, month, example["small"])
    # Regenerating the approved month changes nothing.
    statements.generate_month(brand.pk, month)
    still = StaffStatement.objects.get(pk=statement.pk)
    assert (still.reward_fen, still.gmv_fen, still.version) == (17_946, 1_234_567, approved.version)
    assert lines_of(still) == frozen_lines
    # The next month's statement takes them in as one adjustment for the approved month:
    # sales 1,234,567 − 224,567 = 1,010,000 fen → 1% = 10,100 fen instead of 12,346: −22.46 yuan.
    following = next_month(month)
    statements.generate_month(brand.pk, following)
    nxt = StaffStatement.objects.get(staff=clerk_a, month=following)
    assert lines_of(nxt) == [(LineKind.ADJUSTMENT, None, -224_567, 0, -2_246, month)]
    assert (nxt.reward_fen, nxt.adjustment_fen, nxt.invite_count, nxt.gmv_fen) == (-2_246, -2_246, 0, 0)
    assert StaffStatement.objects.get(pk=statement.pk).reward_fen == 17_946


def test_late_items_wait_for_a_draft_month_and_go_into_it(brand, store_a, hq_admin, clerk_a, example, month):
    """While the month is still a draft, a late order simply joins that month on regeneration."""
    statements.generate_month(brand.pk, month)
    attribute_sale(clerk_a, store_a, example["members"][2], 10_000, month)
    statements.generate_month(brand.pk, month)
    statement = StaffStatement.objects.get(staff=clerk_a, month=month)
    assert (statement.gmv_fen, statement.reward_fen) == (1_244_567, 5_600 + 12_446)


def test_approval_is_idempotent_and_needs_a_closed_month(
    brand, store_a, store_b, hq_admin, clerk_a, example, month
):
    statements.generate_month(brand.pk, month)
    statement = StaffStatement.objects.get(staff=clerk_a, month=month)
    first = statements.approve_statement(hq_admin, statement.pk)
    second = statements.approve_statement(hq_admin, statement.pk)
    assert (first.approved_at, first.status) == (second.approved_at, second.status)
    assert statements.approve_store(hq_admin, store_a.pk, month) == 0
    with pytest.raises(NotFound):
        statements.approve_store(hq_admin, store_b.pk, month)
    # The running month cannot be approved yet.
    now = current_month()
    attribute_members(clerk_a, store_a, [MemberFactory(brand=brand, home_store=store_a)], now)
    statements.generate_month(brand.pk, now)
    running = StaffStatement.objects.get(staff=clerk_a, month=now)
    with pytest.raises(Conflict):
        statements.approve_statement(hq_admin, running.pk)
    with pytest.raises(PermissionDenied):
        statements.approve_statement(clerk_a, statement.pk)


def test_a_store_is_approved_at_once(brand, store_a, hq_admin, clerk_a, manager_a, example, month):
    attribute_members(manager_a, store_a, [MemberFactory(brand=brand, home_store=store_a)], month)
    statements.generate_month(brand.pk, month)
    assert statements.approve_store(hq_admin, store_a.pk, month) == 2
    assert set(StaffStatement.objects.values_list("status", flat=True)) == {"approved"}
    summary = statements.store_summaries(hq_admin, month)
    assert [(s.store_id, s.statements, s.drafts, s.invites, s.reward_fen) for s in summary] == [
        (store_a.pk, 2, 0, 54, 17_946 + 100)
    ]


def test_store_staff_never_see_another_stores_statements(
    brand, store_a, store_b, hq_admin, clerk_a, manager_a, example, month
):
    clerk_b = StaffFactory(brand=brand, username="clerkb", role="clerk", stores=[store_b])
    manager_b = StaffFactory(brand=brand, username="managerb", role="store_manager", stores=[store_b])
    attribute_members(clerk_b, store_b, [MemberFactory(brand=brand, home_store=store_b)], month)
    statements.generate_month(brand.pk, month)
    mine_a = StaffStatement.objects.get(staff=clerk_a)
    mine_b = StaffStatement.objects.get(staff=clerk_b)
    # Staff of store B (clerk or manager) cannot read A's statement: it does not exist for them.
    for outsider in (clerk_b, manager_b):
        with pytest.raises(NotFound):
            statements.get_statement(outsider, mine_a.pk)
        with pytest.raises(NotFound):
            statements.store_statements(outsider, store_a.pk, month)
        with pytest.raises(NotFound):
            leaderboards.leaderboard(outsider, store_id=store_a.pk, month=month)
    # Manager A sees their store's staff; clerk A sees only their own statement.
    assert [s.pk for s in statements.store_statements(manager_a, store_a.pk, month)] == [mine_a.pk]
    assert [s.store_id for s in statements.store_summaries(manager_a, month)] == [store_a.pk]
    assert statements.get_statement(clerk_a, mine_a.pk).pk == mine_a.pk
    with pytest.raises(NotFound):
        statements.get_statement(clerk_a, mine_b.pk)
    with pytest.raises(NotFound):
        statements.store_statements(clerk_a, store_a.pk, month)
    # The chain board is head office's; store staff see their own place in it.
    with pytest.raises(NotFound):
        leaderboards.leaderboard(clerk_a, store_id=None, month=month)
    board = leaderboards.leaderboard(hq_admin, store_id=None, month=month)
    assert [(s.staff_id, s.invites, s.reward_fen) for s in board.standings] == [
        (clerk_a.pk, 53, 17_946),
        (clerk_b.pk, 1, 100),
    ]
    mine = leaderboards.my_month(clerk_b, month)
    assert (mine.invites, mine.reward_fen, mine.chain_rank, mine.chain_size) == (1, 100, 2, 2)


def test_leaderboard_ranks_by_the_metric_asked(brand, store_a, hq_admin, clerk_a, manager_a, example, month):
    attribute_members(
        manager_a, store_a, MemberFactory.create_batch(2, brand=brand, home_store=store_a), month
    )
    attribute_sale(manager_a, store_a, example["members"][5], 5_000_000, month)
    by_gmv = leaderboards.leaderboard(clerk_a, store_id=store_a.pk, metric="gmv", month=month)
    assert [s.staff_id for s in by_gmv.standings] == [manager_a.pk, clerk_a.pk]
    by_invites = leaderboards.leaderboard(clerk_a, store_id=store_a.pk, metric="invites", month=month)
    assert [s.staff_id for s in by_invites.standings] == [clerk_a.pk, manager_a.pk]
    with pytest.raises(ValidationFailed):
        leaderboards.leaderboard(clerk_a, store_id=store_a.pk, metric="junk", month=month)


@pytest.mark.parametrize(
    "tiers",
    [
        [],
        [{"from_units": 5, "to_units": 10, "fen_per_unit": 1}],
        [{"from_units": 0, "to_units": None, "fen_per_unit": 1}, {"from_units": 0, "fen_per_unit": 2}],
        [{"from_units": 0, "to_units": 10, "fen_per_unit": 1}, {"from_units": 11, "fen_per_unit": 2}],
        [{"from_units": 0, "to_units": 0, "fen_per_unit": 1}],
        [{"from_units": 0, "fen_per_unit": "lots"}],
    ],
)
def test_tiers_must_be_contiguous_from_zero(hq_admin, tiers):
    with pytest.raises(ValidationFailed):
        create_rule(hq_admin, name="x", kind="invite", valid_from="2026-01", tiers=tiers)


def test_creating_a_rule_is_idempotent_per_key(hq_admin, clerk_a):
    data = {"name": "拉新", "kind": "invite", "valid_from": "2026-01", "tiers": [{"fen_per_unit": 100}]}
    first = create_rule(hq_admin, idempotency_key="k1", **data)
    assert create_rule(hq_admin, idempotency_key="k1", **data).pk == first.pk
    with pytest.raises(Conflict):
        create_rule(hq_admin, idempotency_key="k1", **{**data, "name": "别的"})
    with pytest.raises(PermissionDenied):
        create_rule(clerk_a, **data)
