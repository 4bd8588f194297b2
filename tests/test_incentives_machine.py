"""Hypothesis state machine for staff statements: random joins, sales, refunds, generations and approvals over
three closed months. Approved statements never change; every statement's total is the sum of its lines;
nothing is counted twice or lost (after a final generation, every month has paid exactly what its tiers give
for everything in it, however it was split between its own statement and later corrections)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from siyu.incentives.models import Attribution, IncentiveRule, StaffStatement, StatementLine
from siyu.incentives.services import statements
from siyu.incentives.services.rules import create_rule
from tests.factories import MemberFactory, attribute_members, attribute_refund, attribute_sale, closed_month

MONTHS = [closed_month(4), closed_month(3), closed_month(2)]
FINAL = closed_month(1)


class StatementMachine(RuleBasedStateMachine):
    world: dict = {}

    @initialize()
    def start(self) -> None:
        StatementLine.objects.all().delete()
        Attribution.objects.all().delete()
        StaffStatement.objects.all().delete()
        w = self.world
        if not IncentiveRule.objects.exists():
            create_rule(
                w["hq"],
                name="拉新",
                kind="invite",
                valid_from="2020-01",
                tiers=[{"to_units": 3, "fen_per_unit": 100}, {"from_units": 3, "fen_per_unit": 200}],
            )
            create_rule(
                w["hq"],
                name="提成",
                kind="gmv_share",
                valid_from="2020-01",
                tiers=[
                    {"to_units": 100_000, "basis_points": 100},
                    {"from_units": 100_000, "basis_points": 200},
                ],
            )
        self.free = list(w["members"])
        self.sales: list[tuple[int, int, int, object]] = []  # (staff index, order id, fen, month)
        self.frozen: dict[int, tuple] = {}

    def _snapshot(self, statement: StaffStatement) -> tuple:
        lines = tuple(
            StatementLine.objects.filter(statement=statement)
            .order_by("id")
            .values_list("kind", "units", "amount_fen")
        )
        claimed = tuple(
            Attribution.objects.filter(statement=statement).order_by("id").values_list("id", flat=True)
        )
        return (statement.reward_fen, statement.invite_count, statement.gmv_fen, lines, claimed)

    @precondition(lambda self: bool(self.free))
    @rule(who=st.integers(0, 1), month=st.integers(0, 2))
    def bring_member(self, who: int, month: int) -> None:
        attribute_members(self.world["staff"][who], self.world["store"], [self.free.pop()], MONTHS[month])

    @rule(who=st.integers(0, 1), month=st.integers(0, 2), hundreds=st.integers(1, 5000))
    def sale(self, who: int, month: int, hundreds: int) -> None:
        member = self.world["members"][0]
        oid = attribute_sale(
            self.world["staff"][who], self.world["store"], member, hundreds * 100, MONTHS[month]
        )
        self.sales.append((who, oid, hundreds * 100, MONTHS[month]))

    @precondition(lambda self: bool(self.sales))
    @rule(pick=st.integers(0, 10_000))
    def refund(self, pick: int) -> None:
        who, oid, fen, month = self.sales.pop(pick % len(self.sales))
        attribute_refund(
            self.world["staff"][who], self.world["store"], self.world["members"][0], fen, month, oid
        )

    @rule(month=st.integers(0, 2))
    def generate(self, month: int) -> None:
        statements.generate_month(self.world["store"].brand_id, MONTHS[month])

    @rule(month=st.integers(0, 2))
    def approve(self, month: int) -> None:
        for statement in StaffStatement.objects.filter(month=MONTHS[month], status="draft"):
            approved = statements.approve_statement(self.world["hq"], statement.pk)
            self.frozen[approved.pk] = self._snapshot(approved)

    @invariant()
    def approved_never_change_and_totals_are_lines(self) -> None:
        for statement in StaffStatement.objects.all():
            lines = list(
                StatementLine.objects.filter(statement=statement).values_list("amount_fen", flat=True)
            )
            assert statement.reward_fen == sum(lines)
            if statement.pk in self.frozen:
                assert self._snapshot(statement) == self.frozen[statement.pk]

    def teardown(self) -> None:
        if not hasattr(self, "free"):
            return
        brand_id = self.world["store"].brand_id
        for month in [*MONTHS, FINAL]:
            statements.generate_month(brand_id, month)
        assert not Attribution.objects.filter(statement__isnull=True).exists()
        # Each month pays, in the end, exactly what its tiers give for everything in it, however it was split
        # between its own statement and later corrections.
        expected = 0
        for staff in self.world["staff"]:
            for month in MONTHS:
                mine = Attribution.objects.filter(staff=staff, month=month)
                invites = mine.filter(kind="member").count()
                gmv = sum(mine.exclude(kind="member").values_list("amount_fen", flat=True))
                expected += min(invites, 3) * 100 + max(invites - 3, 0) * 200
                expected += min(gmv, 100_000) // 100 + max(gmv - 100_000, 0) // 50
        assert sum(StaffStatement.objects.values_list("reward_fen", flat=True)) == expected


def test_statement_state_machine(brand, store_a, hq_admin, clerk_a, manager_a):
    StatementMachine.world = {
        "hq": hq_admin,
        "store": store_a,
        "staff": [clerk_a, manager_a],
        "members": MemberFactory.create_batch(25, brand=brand, home_store=store_a),
    }
    run = StatementMachine.TestCase
    run.settings = settings(
        max_examples=25, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)
    )
    run().runTest()
