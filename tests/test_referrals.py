"""Referral fission (issue 12 §4): the invite tree, rewards counted once and reversed once, fraud holds with
their evidence, bulk review, KOLs and seed users, store scope."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.common.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.communities.models import CommunityMembership, MemberRole
from siyu.communities.services import roles
from siyu.communities.services.joining import leave_community
from siyu.loyalty.models import Coupon, CouponStatus, PointsAccount
from siyu.org.models import AuditEntry
from siyu.referrals.models import Invite, InviteStatus
from siyu.referrals.services import campaigns, counting, links, reports, review
from tests.factories import MemberFactory, invite_join, make_coupon_template, make_referral_campaign

pytestmark = pytest.mark.django_db


def balance(member) -> int:
    account = PointsAccount.objects.filter(member=member).first()
    return account.balance if account else 0


def spread_mobile(i: int) -> str:
    # Mobiles far apart, so the sequential-numbers rule stays quiet unless a test wants it.
    return f"15{i % 10}{(i * 7919) % 10000:04d}{i:04d}"


@pytest.fixture
def campaign(hq_admin, store_a, template):
    return make_referral_campaign(hq_admin, store_a, template, stay_days=1, reversal_days=7)


def test_invite_records_who_brought_whom(campaign, member_a, brand, store_a):
    invitee = MemberFactory(brand=brand, mobile="13711112222")
    invite = invite_join(campaign, member_a, invitee, device_id="dev-1", ip="203.0.113.57")
    assert invite is not None and invite.status == InviteStatus.PENDING
    assert invite.inviter == member_a and invite.invitee == invitee
    assert invite.campaign == campaign and invite.store == store_a
    assert invite.community.store_id == store_a.pk
    assert invite.ip_prefix == "203.0.113.0/24"
    assert invite.device_hash == links.device_hash("dev-1", "Mozilla/5.0 (iPhone)")
    assert invite.invitee_mobile == "13711112222"
    membership = CommunityMembership.objects.get(pk=invite.membership_id)
    assert membership.referrer_id == member_a.pk and membership.scene == "member_share"
    # Once per (campaign, invitee), and never oneself.
    assert invite_join(campaign, member_a, invitee).pk == invite.pk
    assert Invite.objects.count() == 1


def test_reward_paid_once_when_the_invite_counts(campaign, member_a, brand):
    now = timezone.now()
    invitee = MemberFactory(brand=brand)
    invite = invite_join(campaign, member_a, invitee, now=now - timedelta(hours=2))
    counting.run_due(now=now)  # stayed 2 hours of the 1 day needed
    assert Invite.objects.get(pk=invite.pk).status == InviteStatus.PENDING
    counting.run_due(now=now + timedelta(days=1))
    counting.run_due(now=now + timedelta(days=1, minutes=5))
    invite.refresh_from_db()
    assert invite.status == InviteStatus.COUNTED and invite.ordinal == 1 and invite.reward_points == 50
    assert balance(member_a) == 50


def test_invitee_leaving_on_day_2_reverses_the_reward(campaign, member_a, brand):
    now = timezone.now()
    invitee = MemberFactory(brand=brand)
    invite = invite_join(campaign, member_a, invitee, now=now - timedelta(days=2))
    counting.run_due(now=now - timedelta(days=1))  # day 1: counted, 50 points
    assert balance(member_a) == 50
    leave_community(invite.community, invitee)  # day 2
    counting.run_due(now=now)
    counting.run_due(now=now + timedelta(minutes=5))  # exactly once
    invite.refresh_from_db()
    assert invite.status == InviteStatus.REVERSED and invite.reversed_at is not None
    assert balance(member_a) == 0
    assert counting.reverse_invite(invite, now=now, reason="again") is False


def test_leaving_after_the_window_keeps_the_reward(campaign, member_a, brand):
    now = timezone.now()
    invitee = MemberFactory(brand=brand)
    invite = invite_join(campaign, member_a, invitee, now=now - timedelta(days=9))
    counting.run_due(now=now - timedelta(days=8))
    leave_community(invite.community, invitee)  # day 9, the window was 7 days
    counting.run_due(now=now)
    assert Invite.objects.get(pk=invite.pk).status == InviteStatus.COUNTED
    assert balance(member_a) == 50


def test_leaving_before_counting_is_never_rewarded(campaign, member_a, brand):
    invitee = MemberFactory(brand=brand)
    invite = invite_join(campaign, member_a, invitee)
    leave_community(invite.community, invitee)
    counting.run_due(now=timezone.now() + timedelta(days=2))
    assert Invite.objects.get(pk=invite.pk).status == InviteStatus.REJECTED
    assert balance(member_a) == 0


def test_tiers_and_coupon_reward_revoked_on_reversal(hq_admin, store_a, template, member_a, brand):
    coupon_template = make_coupon_template(brand, member_limit=10)
    campaign = make_referral_campaign(
        hq_admin,
        store_a,
        template,
        stay_days=0,
        tiers=[
            {"from": 1, "points": 50},
            {"from": 6, "points": 80, "coupon_template_id": coupon_template.pk},
        ],
    )
    made = []
    for i in range(7):
        made.append(invite_join(campaign, member_a, MemberFactory(brand=brand, mobile=spread_mobile(i))))
    counting.run_due()
    rows = {i.ordinal: i for i in Invite.objects.filter(campaign=campaign)}
    assert [rows[n].reward_points for n in range(1, 8)] == [50] * 5 + [80, 80]
    assert balance(member_a) == 5 * 50 + 2 * 80
    sixth = rows[6]
    assert sixth.reward_coupon_id is not None
    leave_community(sixth.community, sixth.invitee)
    counting.run_due()
    sixth.refresh_from_db()
    assert sixth.status == InviteStatus.REVERSED
    assert Coupon.objects.get(pk=sixth.reward_coupon_id).status == CouponStatus.VOID
    assert balance(member_a) == 5 * 50 + 80


def test_first_purchase_condition(hq_admin, store_a, template, member_a, brand, clerk_a):
    from tests.factories import picked_up_order, two_cups_at

    campaign = make_referral_campaign(hq_admin, store_a, template, count_when="purchase")
    invitee = MemberFactory(brand=brand)
    invite = invite_join(campaign, member_a, invitee)
    waiting = invite_join(campaign, member_a, MemberFactory(brand=brand, mobile="13300000077"))
    counting.run_due(now=timezone.now() + timedelta(days=30))
    assert Invite.objects.get(pk=invite.pk).status == InviteStatus.PENDING
    listing = two_cups_at(hq_admin, store_a)[0]
    picked_up_order(clerk_a, invitee, store_a, [(listing.pk, 1)])
    counting.run_due()
    assert Invite.objects.get(pk=invite.pk).status == InviteStatus.COUNTED
    assert Invite.objects.get(pk=waiting.pk).status == InviteStatus.PENDING
    assert balance(member_a) == 50


def test_21st_invite_within_an_hour_is_held(campaign, member_a, brand):
    now = timezone.now()
    results = []
    for i in range(21):
        invitee = MemberFactory(brand=brand, mobile=spread_mobile(i))
        results.append(invite_join(campaign, member_a, invitee, device_id=f"d{i}", ip=f"10.{i}.0.1", now=now))
    assert [r.status for r in results[:20]] == [InviteStatus.PENDING] * 20
    held = results[20]
    assert held.status == InviteStatus.HELD
    assert [e["rule"] for e in held.evidence] == ["velocity"]
    assert held.evidence[0]["size"] == 21 and len(held.evidence[0]["invite_ids"]) == 20
    sentence = review.evidence_sentences(held)[0]
    assert "21" in sentence and "20" in sentence
    # An hour later the inviter may invite again.
    later = invite_join(
        campaign, member_a, MemberFactory(brand=brand, mobile="13300000001"), now=now + timedelta(hours=2)
    )
    assert later.status == InviteStatus.PENDING


def test_cluster_of_ten_on_one_device_is_held_with_its_evidence(campaign, brand):
    inviters = [MemberFactory(brand=brand, mobile=spread_mobile(100 + i)) for i in range(10)]
    invites = [
        invite_join(
            campaign, inviters[i], MemberFactory(brand=brand, mobile=spread_mobile(i)), device_id="same-phone"
        )
        for i in range(10)
    ]
    ids = {i.pk for i in invites}
    for invite in Invite.objects.filter(pk__in=ids):
        assert invite.status == InviteStatus.HELD
        device = [e for e in invite.evidence if e["rule"] == "device"]
        assert device, invite.evidence
    last = Invite.objects.get(pk=invites[-1].pk)
    evidence = next(e for e in last.evidence if e["rule"] == "device")
    assert set(evidence["invite_ids"]) == ids and evidence["size"] == 10
    assert evidence["value"] == invites[0].device_hash[:12]
    sentence = review.evidence_sentences(last)[0]
    assert "10" in sentence and evidence["value"] in sentence and f"#{invites[0].pk}" in sentence
    counting.run_due(now=timezone.now() + timedelta(days=3))
    assert not Invite.objects.filter(status=InviteStatus.COUNTED).exists()


def test_same_network_and_sequential_mobiles_are_held(campaign, brand):
    inviter = MemberFactory(brand=brand, mobile="13000000000")
    first = [
        invite_join(campaign, inviter, MemberFactory(brand=brand, mobile=f"1501234567{i}"), device_id=f"x{i}")
        for i in range(3)
    ]
    assert all(Invite.objects.get(pk=i.pk).status == InviteStatus.HELD for i in first)
    assert "sequential" in {e["rule"] for e in Invite.objects.get(pk=first[0].pk).evidence}
    others = [
        invite_join(
            campaign,
            MemberFactory(brand=brand, mobile=spread_mobile(200 + i)),
            MemberFactory(brand=brand, mobile=spread_mobile(300 + i)),
            device_id=f"y{i}",
            ip=f"198.51.100.{i + 1}",
        )
        for i in range(8)
    ]
    assert [Invite.objects.get(pk=i.pk).status for i in others] == [InviteStatus.HELD] * 8
    assert "ip" in {e["rule"] for e in Invite.objects.get(pk=others[-1].pk).evidence}


def test_fraud_checks_can_be_turned_off(hq_admin, store_a, template, brand):
    campaign = make_referral_campaign(hq_admin, store_a, template, fraud_checks=False)
    inviter = MemberFactory(brand=brand, mobile="13000000000")
    for i in range(4):
        invite = invite_join(
            campaign, inviter, MemberFactory(brand=brand, mobile=spread_mobile(i)), device_id="one"
        )
        assert invite.status == InviteStatus.PENDING


def test_bulk_release_and_reject(campaign, brand, hq_admin, member_a):
    invites = [
        invite_join(campaign, member_a, MemberFactory(brand=brand, mobile=spread_mobile(i)), device_id="same")
        for i in range(4)
    ]
    assert review.held_invites(hq_admin).count() == 4
    released = review.review(hq_admin, [invites[0].pk, invites[1].pk], "release", "shop wifi, checked")
    rejected = review.review(hq_admin, [invites[2].pk, invites[3].pk, invites[0].pk], "reject")
    assert released.changed == [invites[0].pk, invites[1].pk]
    assert rejected.changed == [invites[2].pk, invites[3].pk] and rejected.skipped == [invites[0].pk]
    assert AuditEntry.objects.filter(action="referral_invite.release").count() == 2
    assert AuditEntry.objects.filter(action="referral_invite.reject").count() == 2
    counting.run_due(now=timezone.now() + timedelta(days=2))
    statuses = {i.pk: i.status for i in Invite.objects.all()}
    assert statuses[invites[0].pk] == statuses[invites[1].pk] == InviteStatus.COUNTED
    assert statuses[invites[2].pk] == statuses[invites[3].pk] == InviteStatus.REJECTED
    assert balance(member_a) == 100
    with pytest.raises(ValidationFailed):
        review.review(hq_admin, [invites[0].pk], "approve")


def test_review_needs_head_office(campaign, manager_a):
    with pytest.raises(PermissionDenied):
        review.held_invites(manager_a)
    with pytest.raises(PermissionDenied):
        review.review(manager_a, [1], "release")


def test_campaign_scope_and_validation(campaign, hq_admin, manager_a, brand, store_b):
    from tests.factories import StaffFactory

    manager_b = StaffFactory(brand=brand, username="managerb", role="store_manager", stores=[store_b])
    assert campaigns.get_campaign(manager_a, campaign.pk) == campaign
    with pytest.raises(NotFound):
        campaigns.get_campaign(manager_b, campaign.pk)
    assert list(campaigns.campaigns_for(manager_b)) == []
    with pytest.raises(PermissionDenied):
        campaigns.update_campaign(manager_a, campaign.pk, {"name": "x"})
    for tiers in (
        [],
        [{"from": 2, "points": 5}],
        [{"from": 1, "points": 5}, {"from": 1, "points": 6}],
        [{"from": 1}],
    ):
        with pytest.raises(ValidationFailed):
            campaigns.update_campaign(hq_admin, campaign.pk, {"tiers": tiers})
    version = campaign.art_version
    changed = campaigns.update_campaign(hq_admin, campaign.pk, {"headline": "邀请好友得积分"})
    assert changed.art_version == version + 1


def test_invite_links_are_signed(campaign, member_a):
    token = links.invite_token(campaign.pk, member_a.pk)
    assert links.parse_token(token) == (campaign.pk, member_a.pk)
    forged = f"{campaign.pk}-{member_a.pk + 1}-{token.rsplit('-', 1)[1]}"
    for bad in (forged, "", "1-2", "x-y-z", token + "0"):
        with pytest.raises(NotFound):
            links.parse_token(bad)


def test_kols_and_seed_users_appointed_per_group(group_a, group_b, hq_admin, manager_a, brand, member_a):
    from tests.factories import in_group

    in_group(member_a, group_a)
    other = in_group(MemberFactory(brand=brand), group_b)
    membership = roles.appoint(manager_a, group_a.pk, member_a.pk, MemberRole.KOL)
    assert membership.role == MemberRole.KOL
    assert roles.appoint(hq_admin, group_a.pk, member_a.pk, MemberRole.SEED).role == MemberRole.SEED
    assert AuditEntry.objects.filter(action="community.role").count() == 2
    with pytest.raises(NotFound):  # another store's group
        roles.appoint(manager_a, group_b.pk, other.pk, MemberRole.KOL)
    with pytest.raises(NotFound):  # not in the group
        roles.appoint(manager_a, group_a.pk, other.pk, MemberRole.KOL)
    with pytest.raises(ValidationFailed):
        roles.appoint(manager_a, group_a.pk, member_a.pk, "owner")
    assert roles.remove(manager_a, group_a.pk, member_a.pk).role == MemberRole.MEMBER


def test_kol_reach_report(campaign, hq_admin, manager_a, brand, member_a):
    invitee = MemberFactory(brand=brand)
    invite = invite_join(campaign, member_a, invitee)
    CommunityMembership.objects.filter(pk=invite.membership_id)  # the invitee's stay
    kol_membership = invite_join(campaign, MemberFactory(brand=brand, mobile="13300000009"), member_a)
    assert kol_membership is not None
    roles.appoint(manager_a, kol_membership.community_id, member_a.pk, MemberRole.KOL)
    rows = reports.kol_reach(hq_admin)
    assert len(rows) == 1
    row = rows[0]
    assert row.member_id == member_a.pk and row.role == MemberRole.KOL and row.invites == 1
    assert row.orders == 0 and row.gmv_fen == 0


def test_demo_seeds_one_campaign_once(brand, hq_admin, store_a, template):
    from siyu.communities.services.livecodes import create_live_code
    from siyu.tooling.demo.referrals import seed_demo_referrals

    create_live_code(hq_admin, store_id=store_a.pk, template_id=template.pk)
    assert seed_demo_referrals(brand, timezone.now()) is True
    assert seed_demo_referrals(brand, timezone.now()) is False
    campaign = campaigns.active_campaigns(brand.pk).get()
    assert campaign.store == store_a and campaign.tiers[1]["points"] == 80
