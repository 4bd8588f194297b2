"""The referrals API: campaigns (head office writes, store staff read their stores'), invites and the
review queue, KOL roles and the reach report; store scope as 404."""

from __future__ import annotations

import pytest

from siyu.communities.services.livecodes import create_live_code
from siyu.referrals.models import Invite, InviteStatus
from tests.api_support import ApiClient, assert_error
from tests.factories import MemberFactory, StaffFactory, in_group, invite_join, make_referral_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(hq_admin, store_a, template):
    return make_referral_campaign(hq_admin, store_a, template)


def test_create_and_update_campaign(as_admin, hq_admin, store_a, template):
    code = create_live_code(hq_admin, store_id=store_a.pk, template_id=template.pk)
    body = {
        "name": "邀好友进群",
        "live_code_id": code.pk,
        "tiers": [{"from": 1, "points": 50}, {"from": 6, "points": 80}],
        "stay_days": 3,
        "reversal_days": 7,
    }
    created = as_admin.post("/referrals/campaigns", body)
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["store_id"] == store_a.pk and data["tiers"][1] == {
        "from": 6,
        "points": 80,
        "coupon_template_id": None,
    }
    assert data["fraud_checks"] is True and data["velocity_per_hour"] == 20
    patched = as_admin.patch(f"/referrals/campaigns/{data['id']}", {"device_cluster": 5, "headline": "来"})
    assert patched.status_code == 200 and patched.json()["device_cluster"] == 5
    assert patched.json()["art_version"] == 2
    bad = as_admin.post("/referrals/campaigns", {**body, "tiers": [{"from": 2, "points": 5}]})
    assert_error(bad, 400, field="tiers")
    assert_error(
        as_admin.post("/referrals/campaigns", {**body, "tiers": [{"from": 1, "points": 5, "x": 1}]}), 400
    )


def test_store_staff_read_their_stores_only(campaign, as_manager, brand, store_b):
    assert [c["id"] for c in as_manager.get("/referrals/campaigns").json()] == [campaign.pk]
    assert as_manager.get(f"/referrals/campaigns/{campaign.pk}").status_code == 200
    assert_error(as_manager.patch(f"/referrals/campaigns/{campaign.pk}", {"name": "x"}), 403)
    other = ApiClient(StaffFactory(brand=brand, username="mb", role="store_manager", stores=[store_b]))
    assert other.get("/referrals/campaigns").json() == []
    assert_error(other.get(f"/referrals/campaigns/{campaign.pk}"), 404)
    assert other.get("/referrals/invites").json()["count"] == 0


def test_holds_and_bulk_review(campaign, as_admin, as_manager, brand, member_a):
    made = [
        invite_join(
            campaign, member_a, MemberFactory(brand=brand, mobile=f"15{i}9{i}7{i}5{i}31"), device_id="one"
        )
        for i in range(3)
    ]
    holds = as_admin.get("/referrals/holds").json()
    assert holds["count"] == 3
    assert any("same phone" in s or "同一" in s for s in holds["items"][0]["evidence"])
    assert holds["items"][0]["invitee_mobile"].count("*") == 4
    assert_error(as_manager.get("/referrals/holds"), 403)
    result = as_admin.post(
        "/referrals/holds/review", {"invite_ids": [made[0].pk, made[1].pk], "action": "release"}
    ).json()
    assert result == {"changed": [made[0].pk, made[1].pk], "skipped": []}
    again = as_admin.post(
        "/referrals/holds/review", {"invite_ids": [made[0].pk, made[2].pk], "action": "reject"}
    )
    assert again.json() == {"changed": [made[2].pk], "skipped": [made[0].pk]}
    assert Invite.objects.get(pk=made[2].pk).status == InviteStatus.REJECTED
    listed = as_admin.get("/referrals/invites", {"status": "pending"}).json()
    assert {i["id"] for i in listed["items"]} == {made[0].pk, made[1].pk}


def test_kol_roles_and_reach(group_a, group_b, as_manager, as_admin, member_a, brand):
    in_group(member_a, group_a)
    other = in_group(MemberFactory(brand=brand), group_b)
    done = as_manager.post(f"/communities/{group_a.pk}/roles", {"member_id": member_a.pk, "role": "kol"})
    assert done.status_code == 200 and done.json()["role"] == "kol"
    assert_error(
        as_manager.post(f"/communities/{group_b.pk}/roles", {"member_id": other.pk, "role": "kol"}), 404
    )
    rows = as_admin.get("/referrals/kols").json()
    assert [(r["member_id"], r["role"], r["invites"]) for r in rows] == [(member_a.pk, "kol", 0)]
    assert (
        as_manager.post(
            f"/communities/{group_a.pk}/roles", {"member_id": member_a.pk, "role": "member"}
        ).json()["role"]
        == "member"
    )
    assert as_admin.get("/referrals/kols").json() == []
