"""Console referral pages: campaign setup (head office), the review queue with evidence in sentences and bulk
release/reject, KOLs and seed users; store staff see only their stores (404 for another store's campaign)."""

from __future__ import annotations

import pytest

from siyu.communities.models import CommunityMembership, MemberRole
from siyu.communities.services.livecodes import create_live_code
from siyu.referrals.models import Invite, InviteStatus, ReferralCampaign
from tests.factories import MemberFactory, StaffFactory, in_group, invite_join, make_referral_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(hq_admin, store_a, template):
    return make_referral_campaign(hq_admin, store_a, template)


def test_head_office_creates_a_campaign(client, hq_admin, store_a, template):
    code = create_live_code(hq_admin, store_id=store_a.pk, template_id=template.pk)
    client.force_login(hq_admin)
    assert client.get("/referrals/new/").status_code == 200
    response = client.post(
        "/referrals/new/",
        {
            "name": "邀好友进群",
            "live_code_id": code.pk,
            "headline": "邀好友 得积分",
            "art_color": "#c0392b",
            "count_when": "stayed",
            "stay_days": 3,
            "reversal_days": 7,
            "fraud_checks": "on",
            "velocity_per_hour": 20,
            "device_cluster": 3,
            "ip_cluster": 8,
            "sequential_cluster": 3,
            "burst_per_10_minutes": 60,
            "active": "on",
            "tier1_from": 1,
            "tier1_points": 50,
            "tier2_from": 6,
            "tier2_points": 80,
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    campaign = ReferralCampaign.objects.get()
    assert campaign.tiers == [
        {"from": 1, "points": 50, "coupon_template_id": None},
        {"from": 6, "points": 80, "coupon_template_id": None},
    ]
    page = client.get("/referrals/").content.decode()
    assert "邀好友进群" in page
    detail = client.get(f"/referrals/{campaign.pk}/")
    assert detail.status_code == 200


def test_store_staff_see_their_stores_only(client, campaign, manager_a, brand, store_b):
    client.force_login(manager_a)
    assert client.get(f"/referrals/{campaign.pk}/").status_code == 200
    assert client.get("/referrals/new/").status_code == 403
    assert client.get("/referrals/review/").status_code == 403
    other = StaffFactory(brand=brand, username="mgrb", role="store_manager", stores=[store_b])
    client.force_login(other)
    assert client.get(f"/referrals/{campaign.pk}/").status_code == 404
    assert "邀好友进群" not in client.get("/referrals/").content.decode()


def test_review_queue_shows_evidence_and_applies_in_bulk(client, campaign, hq_admin, brand, member_a):
    made = [
        invite_join(
            campaign, member_a, MemberFactory(brand=brand, mobile=f"15{i}9{i}7{i}5{i}31"), device_id="one"
        )
        for i in range(3)
    ]
    client.force_login(hq_admin)
    page = client.get("/referrals/review/").content.decode()
    assert "{" not in page.split("<main")[-1].split("</main>")[0].replace("{%", "")
    assert f"#{made[0].pk}" in page
    response = client.post(
        "/referrals/review/apply/", {"invite": [made[0].pk, made[1].pk], "action": "reject", "reason": "刷单"}
    )
    assert response.status_code == 302
    assert Invite.objects.filter(status=InviteStatus.REJECTED).count() == 2
    client.post("/referrals/review/apply/", {"invite": [made[2].pk], "action": "release"})
    assert Invite.objects.get(pk=made[2].pk).status == InviteStatus.PENDING


def test_managers_appoint_kols_in_their_stores(client, group_a, group_b, manager_a, member_a, brand):
    in_group(member_a, group_a)
    other = in_group(MemberFactory(brand=brand), group_b)
    client.force_login(manager_a)
    page = client.get("/referrals/kols/").content.decode()
    assert group_a.name in page
    assert f'value="{group_b.pk}"' not in page
    client.post("/referrals/kols/", {"community": group_a.pk, "member_id": member_a.pk, "role": "kol"})
    membership = CommunityMembership.objects.get(community=group_a, member=member_a)
    assert membership.role == MemberRole.KOL
    response = client.post(
        "/referrals/kols/", {"community": group_b.pk, "member_id": other.pk, "role": "kol"}
    )
    assert response.status_code == 200  # not a choice: the form refuses it
    assert CommunityMembership.objects.get(community=group_b, member=other).role == MemberRole.MEMBER
    assert client.post(f"/referrals/kols/{group_b.pk}/{other.pk}/remove/").status_code == 404
    client.post(f"/referrals/kols/{group_a.pk}/{member_a.pk}/remove/")
    assert CommunityMembership.objects.get(community=group_a, member=member_a).role == MemberRole.MEMBER
