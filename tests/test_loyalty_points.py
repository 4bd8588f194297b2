"""The points ledger (siyu.loyalty.services.points): batches, soonest-to-expire first, clawback debt, once per
key, never negative — by example, by a Hypothesis state machine, and with real parallel connections."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.loyalty.models import PointsAccount, PointsBatch, PointsDraw, PointsEntry, PointsPolicy
from siyu.loyalty.services import points
from siyu.loyalty.services.points import InsufficientPoints
from siyu.org.models import AuditEntry
from tests.factories import MemberFactory
from tests.race_support import needs_postgres, run_pooled


def key() -> str:
    return "sys:test:" + uuid.uuid4().hex


def live_sum(member) -> int:
    return PointsBatch.objects.filter(account__member=member).aggregate(n=Sum("remaining"))["n"] or 0


def test_spend_draws_soonest_to_expire_first(member_a):
    now = timezone.now()
    late = points.earn(member_a, 100, key=key(), expires_at=now + timedelta(days=300))
    soon = points.earn(member_a, 50, key=key(), expires_at=now + timedelta(days=10))
    entry = points.spend(member_a, 70, key=key())
    draws = {d.batch.entry_id: d.points for d in PointsDraw.objects.filter(entry=entry)}
    assert draws == {soon.pk: 50, late.pk: 20}
    assert points.balance_of(member_a).shown == 80 == live_sum(member_a)


def test_overspend_refused_and_nothing_written(member_a):
    points.earn(member_a, 10, key=key())
    before = PointsEntry.objects.count()
    with pytest.raises(InsufficientPoints):
        points.spend(member_a, 11, key=key())
    assert PointsEntry.objects.count() == before
    assert points.balance_of(member_a).balance == 10


def test_same_key_applies_once_and_different_request_is_refused(member_a):
    k = key()
    first = points.earn(member_a, 30, key=k, expires_at=timezone.now() + timedelta(days=30))
    again = points.earn(member_a, 30, key=k, expires_at=first.batch.expires_at)
    assert again.pk == first.pk
    with pytest.raises(Conflict) as info:
        points.earn(member_a, 31, key=k)
    assert info.value.code == "idempotency_mismatch"
    assert points.balance_of(member_a).balance == 30


def test_expired_points_are_never_spent(member_a):
    now = timezone.now()
    points.earn(member_a, 40, key=key(), expires_at=now + timedelta(days=1), now=now)
    points.earn(member_a, 5, key=key(), expires_at=now + timedelta(days=90), now=now)
    later = now + timedelta(days=2)
    with pytest.raises(InsufficientPoints):
        points.spend(member_a, 10, key=key(), now=later)
    # Refused, so nothing was written; what the member sees already leaves the expired points out.
    assert not PointsEntry.objects.filter(kind=PointsEntry.Kind.EXPIRE).exists()
    assert points.balance_of(member_a, now=later).balance == 5
    points.spend(member_a, 5, key=key(), now=later)
    assert PointsEntry.objects.filter(kind=PointsEntry.Kind.EXPIRE, points=-40).exists()


def test_refund_claws_back_points_already_spent_as_debt(member_a):
    """Points earned on an order come back on its refund, including those already spent (shown as owed)."""
    points.earn(member_a, 100, key=key(), source=("order", "7"))
    points.spend(member_a, 80, key=key())
    reversed_ = points.reverse_earning(member_a, source=("order", "7"), key="sys:refund:7")
    assert [e.points for e in reversed_] == [-100]
    bal = points.balance_of(member_a)
    assert (bal.balance, bal.debt, bal.shown) == (0, 80, -80)
    # The refund again (a retry, any key) changes nothing.
    points.reverse_earning(member_a, source=("order", "7"), key="sys:refund:7:again")
    assert points.balance_of(member_a).shown == -80
    # The next earning pays the debt first.
    points.earn(member_a, 100, key=key())
    bal = points.balance_of(member_a)
    assert (bal.balance, bal.debt) == (20, 0)
    assert live_sum(member_a) == 20


def test_expired_points_are_not_clawed_back(member_a):
    now = timezone.now()
    points.earn(member_a, 60, key=key(), source=("order", "9"), expires_at=now + timedelta(days=1), now=now)
    later = now + timedelta(days=3)
    assert points.expire_due(now=later) == 1
    assert points.reverse_earning(member_a, source=("order", "9"), key="sys:refund:9", now=later) == []
    assert points.balance_of(member_a).shown == 0


def test_expiry_job_in_bulk_is_exact_and_safe_twice(brand, store_a):
    now = timezone.now()
    members = MemberFactory.create_batch(5, brand=brand, home_store=store_a)
    for i, m in enumerate(members):
        points.earn(m, 10 + i, key=key(), expires_at=now + timedelta(days=1), now=now)
        points.earn(m, 3, key=key(), expires_at=now + timedelta(days=400), now=now)
    later = now + timedelta(days=2)
    assert points.expire_due(now=later, chunk=2) == 5
    assert points.expire_due(now=later) == 0
    for m in members:
        assert points.balance_of(m).balance == 3 == live_sum(m)
        account = PointsAccount.objects.get(member=m)
        assert account.entries.aggregate(n=Sum("points"))["n"] == 3


def test_expiry_policy_rolling_and_year_end(brand):
    earned = timezone.make_aware(timezone.datetime(2026, 1, 31, 10, 0))
    rolling = timezone.localtime(points.expiry_for(brand.pk, earned))
    assert (rolling.year, rolling.month, rolling.day) == (2027, 1, 31)
    PointsPolicy.objects.create(brand=brand, expiry=PointsPolicy.Expiry.ROLLING, expiry_months=1)
    one = timezone.localtime(points.expiry_for(brand.pk, earned))
    assert (one.month, one.day) == (2, 28)
    PointsPolicy.objects.filter(brand=brand).update(expiry=PointsPolicy.Expiry.YEAR_END)
    end = timezone.localtime(points.expiry_for(brand.pk, earned))
    assert (end.year, end.month, end.day, end.hour) == (2027, 12, 31, 23)


def test_staff_adjustment_needs_capability_reason_and_scope(hq_admin, manager_a, clerk_a, member_a, member_b):
    with pytest.raises(PermissionDenied):
        points.adjust(clerk_a, member_a.pk, 10, reason="补偿", key="k1")
    with pytest.raises(ValidationFailed):
        points.adjust(manager_a, member_a.pk, 10, reason="  ", key="k1")
    with pytest.raises(NotFound):
        points.adjust(manager_a, member_b.pk, 10, reason="补偿", key="k1")
    entry = points.adjust(manager_a, member_a.pk, 10, reason="活动补偿", key="k1")
    assert points.adjust(manager_a, member_a.pk, 10, reason="活动补偿", key="k1").pk == entry.pk
    # Another staff member's identical key is a different key.
    points.adjust(hq_admin, member_a.pk, 5, reason="客诉补偿", key="k1")
    assert points.balance_of(member_a).balance == 15
    with pytest.raises(InsufficientPoints):
        points.adjust(manager_a, member_a.pk, -16, reason="扣回", key="k2")
    assert AuditEntry.objects.filter(action="loyalty.adjust").count() == 2


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_spends_against_a_balance_for_ten(brand, store_a):
    needs_postgres()
    member = MemberFactory(brand=brand, home_store=store_a)
    points.earn(member, 100, key=key())
    outcomes = run_pooled(50, lambda i: points.spend(member, 10, key=f"sys:race:{i}"), threads=16)
    assert sum(isinstance(o, PointsEntry) for o in outcomes) == 10
    assert all(isinstance(o, PointsEntry | InsufficientPoints) for o in outcomes), outcomes
    assert points.balance_of(member).balance == 0 == live_sum(member)


@pytest.mark.django_db(transaction=True)
def test_parallel_retries_of_one_key_apply_once(brand, store_a):
    needs_postgres()
    member = MemberFactory(brand=brand, home_store=store_a)
    outcomes = run_pooled(20, lambda i: points.earn(member, 5, key="sys:checkin:1"), threads=10)
    assert {o.pk for o in outcomes if isinstance(o, PointsEntry)} and all(
        isinstance(o, PointsEntry) for o in outcomes
    ), outcomes
    assert points.balance_of(member).balance == 5


class LedgerMachine(RuleBasedStateMachine):
    """Random earn / spend / expire / reverse / retry sequences against a plain model of batches."""

    member = None

    @initialize()
    def start(self) -> None:
        PointsDraw.objects.all().delete()
        PointsBatch.objects.all().delete()
        PointsEntry.objects.update(reverses=None)
        PointsEntry.objects.all().delete()
        PointsAccount.objects.all().delete()
        self.now = timezone.now()
        self.batches: dict[
            int, list
        ] = {}  # earn entry id -> [expires_at, remaining, amount, source, expired]
        self.debt = 0
        self.keys: list[tuple[str, str, int, object]] = []
        self.sources: list[str] = []
        self.n = 0

    def _live(self):
        return sorted(
            (b for b in self.batches.items() if b[1][1] > 0 and b[1][0] > self.now),
            key=lambda kv: (kv[1][0], kv[0]),
        )

    def _sweep(self) -> None:
        for b in self.batches.values():
            if b[1] > 0 and b[0] <= self.now:
                b[4] += b[1]
                b[1] = 0

    @rule(amount=st.integers(1, 200), days=st.integers(1, 60), refundable=st.booleans())
    def earn(self, amount: int, days: int, refundable: bool) -> None:
        self.n += 1
        source = ("order", str(self.n)) if refundable else ("", "")
        k = key()
        expires = self.now + timedelta(days=days, seconds=self.n)
        entry = points.earn(self.member, amount, key=k, source=source, expires_at=expires, now=self.now)
        repay = min(amount, self.debt)
        self.debt -= repay
        self.batches[entry.pk] = [expires, amount - repay, amount, source, 0]
        self.keys.append(("earn", k, amount, (source, expires)))
        if refundable:
            self.sources.append(source[1])

    @rule(amount=st.integers(1, 300))
    def spend(self, amount: int) -> None:
        k = key()
        available = sum(b[1] for _pk, b in self._live())
        try:
            entry = points.spend(self.member, amount, key=k, now=self.now)
        except InsufficientPoints:
            assert amount > available
            return  # refused: nothing written, not even the sweep of expired batches
        assert amount <= available
        self._sweep()
        expected = []
        left = amount
        for pk, b in self._live():
            take = min(b[1], left)
            if take:
                expected.append((pk, take))
                b[1] -= take
                left -= take
        got = sorted((d.batch.entry_id, d.points) for d in entry.draws.all())
        assert got == sorted(expected), "spending must draw soonest-to-expire first"
        self.keys.append(("spend", k, amount, None))

    @rule(days=st.integers(1, 40))
    def pass_time(self, days: int) -> None:
        self.now += timedelta(days=days)

    @rule()
    def run_expiry(self) -> None:
        points.expire_due(now=self.now)
        self._sweep()

    @precondition(lambda self: bool(self.sources))
    @rule(data=st.data())
    def refund(self, data) -> None:
        self._sweep()
        source_id = data.draw(st.sampled_from(self.sources))
        points.reverse_earning(
            self.member, source=("order", source_id), key=f"sys:refund:{source_id}", now=self.now
        )
        self.sources.remove(source_id)
        for b in list(self.batches.values()):
            if b[3] == ("order", source_id):
                claw = b[2] - b[4]
                own = min(b[1], claw)
                b[1] -= own
                rest = claw - own
                for _pk, other in self._live():
                    take = min(other[1], rest)
                    other[1] -= take
                    rest -= take
                self.debt += rest

    @precondition(lambda self: bool(self.keys))
    @rule(data=st.data())
    def retry(self, data) -> None:
        kind, k, amount, extra = data.draw(st.sampled_from(self.keys))
        count = PointsEntry.objects.count()
        if kind == "earn":
            source, expires = extra
            points.earn(self.member, amount, key=k, source=source, expires_at=expires, now=self.now)
        else:
            points.spend(self.member, amount, key=k, now=self.now)
        assert PointsEntry.objects.count() == count, "a retried key must change nothing"

    @invariant()
    def ledger_is_whole(self) -> None:
        if not hasattr(self, "batches"):
            return
        account = PointsAccount.objects.filter(member=self.member).first()
        balance, debt = (account.balance, account.debt) if account else (0, 0)
        assert balance >= 0 and debt >= 0
        assert debt == self.debt
        assert balance == live_sum(self.member)
        assert balance == sum(b[1] for b in self.batches.values())
        if account:
            assert (account.entries.aggregate(n=Sum("points"))["n"] or 0) == balance - debt


def test_ledger_state_machine(member_a):
    LedgerMachine.member = member_a
    run = LedgerMachine.TestCase
    run.settings = settings(
        max_examples=40, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
    )
    run().runTest()
