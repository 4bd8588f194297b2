"""A Hypothesis state machine over the stored-value ledger: recharge / pay / refund a payment / cash refund of
principal / time passing and the bonus expiry job / retries with the same key, against a plain model."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from siyu.loyalty.models import (
    BonusDraw,
    BonusGrant,
    RechargeGift,
    StoredValueAccount,
    StoredValueEntry,
)
from siyu.loyalty.services import stored_value as sv
from tests.factories import recharge_rule, sv_policy

pytestmark = pytest.mark.django_db

CAP = 100_000
EXPIRY_DAYS = 30
TIERS = {5_000: 300, 20_000: 2_500}


def key() -> str:
    return "sys:test:" + uuid.uuid4().hex


class StoredValueMachine(RuleBasedStateMachine):
    member = None
    store = None

    @initialize()
    def reset(self) -> None:
        BonusDraw.objects.all().delete()
        BonusGrant.objects.all().delete()
        RechargeGift.objects.all().delete()
        StoredValueEntry.objects.filter(reverses__isnull=False).delete()
        StoredValueEntry.objects.all().delete()
        StoredValueAccount.objects.all().delete()
        self.now = timezone.now()
        self.principal = 0
        self.recharged = 0
        self.grants: dict[int, list] = {}  # grant id -> [expires_at, remaining]
        self.pays: dict[int, dict] = {}  # pay entry id -> {p, b, refunded, net: {grant id: fen}}
        self.calls: list[tuple[str, dict]] = []

    # --- the model -----------------------------------------------------------------------------------

    def _live(self) -> list[tuple[int, list]]:
        return sorted(
            ((pk, g) for pk, g in self.grants.items() if g[1] > 0 and g[0] > self.now),
            key=lambda kv: (kv[1][0], kv[0]),
        )

    def _bonus(self) -> int:
        return sum(g[1] for _pk, g in self._live())

    def _take_bonus(self, amount: int) -> dict[int, int]:
        taken: dict[int, int] = {}
        for pk, g in self._live():
            take = min(g[1], amount)
            if take:
                g[1] -= take
                amount -= take
                taken[pk] = take
        assert amount == 0
        return taken

    # --- rules ---------------------------------------------------------------------------------------

    @rule(amount=st.sampled_from([1, 999, 5_000, 7_777, 20_000, 45_000]))
    def recharge(self, amount: int) -> None:
        args = {"amount_fen": amount, "key": key(), "now": self.now}
        bonus = max((b for t, b in TIERS.items() if amount >= t), default=0)
        fits = self.principal + self._bonus() + amount + bonus <= CAP
        try:
            result = sv.recharge(
                self.member, amount, store=self.store, key=args["key"], actor_ref="system:0", now=self.now
            )
        except sv.CapExceeded:
            assert not fits
            return
        assert fits and result.bonus_fen == bonus
        self.principal += amount
        self.recharged += amount
        if bonus:
            grant = BonusGrant.objects.get(entry_id__in=result.entry_ids)
            self.grants[grant.pk] = [self.now + timedelta(days=EXPIRY_DAYS), bonus]
        self.calls.append(("recharge", args))

    @rule(amount=st.integers(1, 30_000))
    def pay(self, amount: int) -> None:
        args = {"amount": amount, "key": key(), "ref": uuid.uuid4().hex[:8], "now": self.now}
        available = self.principal + self._bonus()
        try:
            result = sv.pay(
                self.member,
                amount,
                key=args["key"],
                store=self.store,
                source="order",
                source_ref=args["ref"],
                now=self.now,
            )
        except sv.InsufficientBalance:
            assert amount > available
            return
        assert amount <= available
        principal = min(amount, self.principal)
        assert (result.principal_fen, result.bonus_fen) == (principal, amount - principal)
        self.principal -= principal
        net = self._take_bonus(amount - principal)
        self.pays[result.entry_id] = {"p": principal, "b": amount - principal, "refunded": 0, "net": net}
        self.calls.append(("pay", args))

    @precondition(lambda self: any(p["refunded"] < p["p"] + p["b"] for p in self.pays.values()))
    @rule(data=st.data())
    def refund_payment(self, data) -> None:
        pk = data.draw(st.sampled_from([k for k, p in self.pays.items() if p["refunded"] < p["p"] + p["b"]]))
        pay = self.pays[pk]
        total = pay["p"] + pay["b"]
        amount = data.draw(st.integers(1, total - pay["refunded"]))
        args = {"pk": pk, "amount": amount, "key": key(), "now": self.now}
        result = sv.refund_payment(pk, amount, key=args["key"], now=self.now)
        before, after = pay["refunded"], pay["refunded"] + amount
        principal = pay["p"] * after // total - pay["p"] * before // total
        assert (result.principal_fen, result.bonus_fen) == (principal, amount - principal)
        pay["refunded"] = after
        self.principal += principal
        left = amount - principal
        for gpk in sorted(pay["net"], key=lambda g: (self.grants[g][0], g), reverse=True):
            put = min(left, pay["net"][gpk])
            if put:
                pay["net"][gpk] -= put
                left -= put
                if self.grants[gpk][0] > self.now:
                    self.grants[gpk][1] += put
        assert left == 0
        self.calls.append(("refund", args))

    @rule(amount=st.integers(1, 30_000))
    def refund_principal(self, amount: int) -> None:
        args = {"amount": amount, "key": key(), "now": self.now}
        try:
            result = sv.refund_principal(
                self.member, amount, key=args["key"], staff=None, reason="退卡", now=self.now
            )
        except sv.InsufficientBalance:
            assert amount > self.principal
            return
        bonus = self._bonus()
        forfeit = min(bonus, -(-bonus * amount // self.principal)) if bonus else 0
        assert (result.principal_fen, result.bonus_fen, result.forfeited_bonus_fen) == (amount, 0, forfeit)
        self.principal -= amount
        self._take_bonus(forfeit)
        self.calls.append(("cash", args))

    @rule(days=st.integers(1, 20))
    def pass_time(self, days: int) -> None:
        self.now += timedelta(days=days)

    @rule()
    def run_expiry(self) -> None:
        sv.expire_bonuses(now=self.now)

    @precondition(lambda self: bool(self.calls))
    @rule(data=st.data())
    def retry(self, data) -> None:
        kind, a = data.draw(st.sampled_from(self.calls))
        count = StoredValueEntry.objects.count()
        if kind == "recharge":
            sv.recharge(
                self.member,
                a["amount_fen"],
                store=self.store,
                key=a["key"],
                actor_ref="system:0",
                now=a["now"],
            )
        elif kind == "pay":
            sv.pay(
                self.member,
                a["amount"],
                key=a["key"],
                store=self.store,
                source="order",
                source_ref=a["ref"],
                now=a["now"],
            )
        elif kind == "refund":
            sv.refund_payment(a["pk"], a["amount"], key=a["key"], now=a["now"])
        else:
            sv.refund_principal(
                self.member, a["amount"], key=a["key"], staff=None, reason="退卡", now=a["now"]
            )
        assert StoredValueEntry.objects.count() == count, "a retried key must change nothing"

    # --- invariants ----------------------------------------------------------------------------------

    @invariant()
    def ledger_is_whole(self) -> None:
        if not hasattr(self, "grants"):
            return
        account = StoredValueAccount.objects.filter(member=self.member).first()
        if account is None:
            assert self.principal == 0
            return
        assert account.principal_fen >= 0 and account.bonus_fen >= 0
        sums = account.entries.aggregate(p=Sum("principal_delta_fen"), b=Sum("bonus_delta_fen"))
        assert (sums["p"] or 0) == account.principal_fen == self.principal
        assert (sums["b"] or 0) == account.bonus_fen
        assert account.bonus_fen == (account.grants.aggregate(n=Sum("remaining_fen"))["n"] or 0)
        assert sv.balance_of(self.member, now=self.now) == sv.SvBalance(self.principal, self._bonus())
        # Bonus is never paid out as cash: a cash refund only ever takes principal out and forfeits bonus.
        cash = account.entries.filter(kind="cash_refund")
        assert not cash.filter(bonus_delta_fen__gt=0).exists()
        assert -(cash.aggregate(n=Sum("principal_delta_fen"))["n"] or 0) <= self.recharged
        # Every key once (the database's unique constraint) and every payment refunded within what it drew.
        for pay in StoredValueEntry.objects.filter(kind="pay"):
            assert 0 <= pay.refunded_fen <= -(pay.principal_delta_fen + pay.bonus_delta_fen)


def test_stored_value_state_machine(member_a, store_a):
    sv_policy(member_a.brand, cap_fen=CAP, bonus_expiry_days=EXPIRY_DAYS)
    for threshold, bonus in TIERS.items():
        recharge_rule(member_a.brand, threshold, bonus_fen=bonus)
    StoredValueMachine.member = member_a
    StoredValueMachine.store = store_a
    run = StoredValueMachine.TestCase
    run.settings = settings(
        max_examples=40, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
    )
    run().runTest()
