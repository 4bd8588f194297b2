"""Hypothesis state machine for referral rewards: random joins (some from one phone, tripping the device
rule), leaves, counting runs, releases and rejections. Whatever the order: an inviter's balance is the sum of
the rewards of their counted invites; a counted invite was paid exactly once, a reversed one paid and taken
back exactly once, every other invite never paid; ordinals are unique per inviter."""

from __future__ import annotations

import itertools

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from siyu.communities.services.joining import leave_community
from siyu.loyalty.models import PointsAccount, PointsEntry
from siyu.referrals.models import Invite, InviteStatus
from siyu.referrals.services import counting, review
from tests.factories import MemberFactory, invite_join, make_referral_campaign, make_template

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)
_mobiles = itertools.count(1)


class ReferralMachine(RuleBasedStateMachine):
    brand = None
    staff = None
    store = None

    @initialize()
    def start(self) -> None:
        n = next(_numbers)
        template = make_template(self.staff, name=f"裂变群{n}", base_name=f"裂变群{n}")
        self.campaign = make_referral_campaign(
            self.staff, self.store, template, stay_days=0, reversal_days=7, device_cluster=3
        )
        self.inviters = [MemberFactory(brand=self.brand, mobile=f"16{n % 100:02d}{i:07d}") for i in range(2)]
        self.invites: list[Invite] = []
        self.seq = 0

    @rule(inviter=st.integers(0, 1), phone=st.sampled_from(["a", "b", "own"]))
    def join(self, inviter: int, phone: str) -> None:
        self.seq += 1
        n = next(_mobiles)
        invitee = MemberFactory(brand=self.brand, mobile=f"17{(n * 7919) % 10**5:05d}{n:04d}")
        device = f"own-{self.seq}" if phone == "own" else f"shared-{phone}"
        invite = invite_join(self.campaign, self.inviters[inviter], invitee, device_id=device)
        assert invite is not None
        self.invites.append(invite)

    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        if not self.invites:
            return
        invite = data.draw(st.sampled_from(self.invites))
        leave_community(invite.community, invite.invitee)

    @rule(times=st.integers(1, 2))
    def count(self, times: int) -> None:
        for _ in range(times):
            counting.run_due()

    @rule(action=st.sampled_from(["release", "reject"]), data=st.data())
    def review_held(self, action: str, data: st.DataObject) -> None:
        held = list(
            Invite.objects.filter(campaign=self.campaign, status=InviteStatus.HELD).values_list(
                "pk", flat=True
            )
        )
        if not held:
            return
        chosen = data.draw(st.lists(st.sampled_from(held), min_size=1, unique=True))
        review.review(self.staff, chosen, action)

    @invariant()
    def rewards_match_statuses(self) -> None:
        if not hasattr(self, "campaign"):
            return
        rows = list(Invite.objects.filter(campaign=self.campaign))
        ordinals = [(r.inviter_id, r.ordinal) for r in rows if r.ordinal is not None]
        assert len(ordinals) == len(set(ordinals))  # unique per inviter
        for row in rows:
            entries = PointsEntry.objects.filter(source_type="referral", source_id=str(row.pk))
            paid = list(entries.filter(points__gt=0).values_list("points", flat=True))
            taken = list(entries.filter(points__lt=0).values_list("points", flat=True))
            if row.status == InviteStatus.COUNTED:
                assert paid == [row.reward_points] and taken == [], (row.pk, paid, taken)
            elif row.status == InviteStatus.REVERSED:
                assert paid == [row.reward_points] and taken == [-row.reward_points], (row.pk, paid, taken)
            else:
                assert paid == [] and taken == [] and row.ordinal is None, (row.pk, row.status)
        for inviter in self.inviters:
            account = PointsAccount.objects.filter(member=inviter).first()
            balance = (account.balance - account.debt) if account else 0
            expected = (
                Invite.objects.filter(
                    campaign=self.campaign, inviter=inviter, status=InviteStatus.COUNTED
                ).aggregate(n=Sum("reward_points"))["n"]
                or 0
            )
            assert balance == expected


def test_referral_state_machine(brand, hq_admin, store_a):
    ReferralMachine.brand = brand
    ReferralMachine.staff = hq_admin
    ReferralMachine.store = store_a
    run = ReferralMachine.TestCase
    run.settings = settings(
        max_examples=15, stateful_step_count=15, deadline=None, suppress_health_check=list(HealthCheck)
    )
    run().runTest()
