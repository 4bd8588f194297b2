"""Staff statement races on PostgreSQL with real parallel connections: approval once, overlapping
generations, and an approval racing a generation while late items arrive."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from siyu.incentives.models import Attribution, StaffStatement, StatementLine
from siyu.incentives.services import statements
from siyu.incentives.services.months import next_month
from siyu.org.models import AuditEntry
from tests.factories import MemberFactory, attribute_members, attribute_sale, closed_month, standard_rules
from tests.race_support import needs_postgres, run_threads

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def month():
    return closed_month(2)


def lines_total(statement_id: int) -> int:
    return int(
        StatementLine.objects.filter(statement_id=statement_id).aggregate(s=Sum("amount_fen"))["s"] or 0
    )


def test_four_approvals_at_once_approve_once(brand, store_a, hq_admin, clerk_a, month):
    needs_postgres()
    standard_rules(hq_admin)
    attribute_members(clerk_a, store_a, MemberFactory.create_batch(3, brand=brand, home_store=store_a), month)
    statements.generate_month(brand.pk, month)
    statement = StaffStatement.objects.get()
    outcomes = run_threads(4, lambda i: statements.approve_statement(hq_admin, statement.pk))
    assert all(isinstance(o, StaffStatement) and o.status == "approved" for o in outcomes), outcomes
    assert AuditEntry.objects.filter(action="incentives.statement_approved").count() == 1


def test_overlapping_generations_make_one_statement_each_with_lines_equal_to_totals(
    brand, store_a, hq_admin, clerk_a, manager_a, month
):
    needs_postgres()
    standard_rules(hq_admin)
    for person in (clerk_a, manager_a):
        members = MemberFactory.create_batch(60, brand=brand, home_store=store_a)
        attribute_members(person, store_a, members, month)
        attribute_sale(person, store_a, members[0], 1_234_567, month)
    outcomes = run_threads(3, lambda i: statements.generate_month(brand.pk, month))
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    rows = list(StaffStatement.objects.filter(month=month))
    assert len(rows) == 2
    for row in rows:
        assert row.reward_fen == lines_total(row.pk) == 5_000 + 10 * 200 + 12_346
    assert not Attribution.objects.filter(statement__isnull=True).exists()


def test_approval_racing_generation_and_late_items_loses_nothing(brand, store_a, hq_admin, clerk_a, month):
    needs_postgres()
    standard_rules(hq_admin)
    members = MemberFactory.create_batch(40, brand=brand, home_store=store_a)
    attribute_members(clerk_a, store_a, members, month)
    statements.generate_month(brand.pk, month)
    statement = StaffStatement.objects.get()

    def work(i: int) -> object:
        if i == 0:
            return statements.approve_statement(hq_admin, statement.pk)
        if i == 1:
            return statements.generate_month(brand.pk, month)
        return attribute_sale(clerk_a, store_a, members[i], 10_000, month)

    outcomes = run_threads(6, work)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    frozen = StaffStatement.objects.get(pk=statement.pk)
    assert frozen.status == "approved"
    claimed = Attribution.objects.filter(statement_id=frozen.pk)
    claimed_sales = int(claimed.filter(kind="order").aggregate(s=Sum("amount_fen"))["s"] or 0)
    assert (frozen.invite_count, frozen.gmv_fen) == (40, claimed_sales)
    assert frozen.reward_fen == lines_total(frozen.pk)
    # Whatever the frozen statement did not take goes into the next month as a correction; nothing is lost.
    statements.generate_month(brand.pk, next_month(month))
    assert not Attribution.objects.filter(statement__isnull=True).exists()
    late = StaffStatement.objects.filter(month=next_month(month)).first()
    late_sales = 40_000 - claimed_sales
    assert (late.adjustment_fen if late else 0) == late_sales // 100
