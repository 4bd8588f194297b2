"""Referral races on PostgreSQL with real parallel connections: counting jobs running at once pay each
invite once; reversals at once take back once; one invitee recorded from two requests is one invite."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.communities.models import CommunityMembership, JoinScene
from siyu.communities.services.joining import leave_community
from siyu.communities.services.livecodes import join_via_live_code
from siyu.loyalty.models import PointsAccount, PointsEntry
from siyu.referrals.models import Invite, InviteStatus
from siyu.referrals.services import counting, invites
from tests.factories import MemberFactory, invite_join, make_referral_campaign, make_template
from tests.race_support import needs_postgres, run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _spread(i: int) -> str:
    return f"15{i % 10}{(i * 7919) % 10000:04d}{i:04d}"


def test_counting_jobs_at_once_pay_each_invite_once(hq_admin, store_a, brand, member_a):
    needs_postgres()
    campaign = make_referral_campaign(hq_admin, store_a, make_template(hq_admin), stay_days=0)
    for i in range(10):
        invite_join(campaign, member_a, MemberFactory(brand=brand, mobile=_spread(i)))
    run_threads(6, lambda i: counting.run_due())
    counting.run_due()  # whatever a lost ordinal race left behind
    rows = list(Invite.objects.filter(campaign=campaign))
    assert all(r.status == InviteStatus.COUNTED for r in rows)
    assert sorted(r.ordinal for r in rows) == list(range(1, 11))
    assert PointsEntry.objects.filter(source_type="referral", points__gt=0).count() == 10
    assert PointsAccount.objects.get(member=member_a).balance == 5 * 50 + 5 * 80  # tiers: 6th on earn 80


def test_reversals_at_once_take_back_once(hq_admin, store_a, brand, member_a):
    needs_postgres()
    campaign = make_referral_campaign(hq_admin, store_a, make_template(hq_admin), stay_days=0)
    invitee = MemberFactory(brand=brand, mobile=_spread(1))
    invite = invite_join(campaign, member_a, invitee)
    counting.run_due()
    leave_community(invite.community, invitee)
    now = timezone.now() + timedelta(minutes=1)
    outcomes = run_threads(
        6, lambda i: counting.reverse_invite(Invite.objects.get(pk=invite.pk), now=now, reason="x")
    )
    assert outcomes.count(True) == 1, outcomes
    assert PointsEntry.objects.filter(source_type="referral", points__lt=0).count() == 1
    assert PointsAccount.objects.get(member=member_a).balance == 0


def test_one_invitee_recorded_twice_at_once_is_one_invite(hq_admin, store_a, brand, member_a):
    needs_postgres()
    campaign = make_referral_campaign(hq_admin, store_a, make_template(hq_admin))
    invitee = MemberFactory(brand=brand, mobile=_spread(2))
    result = join_via_live_code(
        campaign.live_code.token, invitee, scene=JoinScene.MEMBER_SHARE, referrer_member_id=member_a.pk
    )
    membership = CommunityMembership.objects.get(pk=result.membership.pk)
    outcomes = run_threads(
        4,
        lambda i: invites.record_invite(
            CommunityMembership.objects.select_related("community").get(pk=membership.pk),
            campaign_id=campaign.pk,
            inviter_id=member_a.pk,
            device_id=f"d{i}",
        ),
    )
    assert Invite.objects.filter(campaign=campaign, invitee=invitee).count() == 1
    assert len({o.pk for o in outcomes if isinstance(o, Invite)}) == 1, outcomes
