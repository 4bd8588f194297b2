"""Referral pages for members: the invite link lands the invitee in the campaign's group and records the
invite with the device fingerprint and IP range; 我的邀请 and the share poster (a PNG whose QR decodes to
the invite URL, cached per campaign, member and art version)."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from siyu.referrals.models import Invite, InviteStatus
from siyu.referrals.services import campaigns, links, posters
from tests.factories import MemberFactory, make_referral_campaign
from tests.h5_support import member_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(hq_admin, store_a, template):
    return make_referral_campaign(hq_admin, store_a, template, headline="邀好友 得积分")


def test_invite_link_joins_and_records_the_invite(campaign, member_a, brand):
    invitee = MemberFactory(brand=brand, mobile="13755556666")
    client = member_client(
        invitee, HTTP_USER_AGENT="Mozilla/5.0 (iPhone) MicroMessenger", REMOTE_ADDR="203.0.113.9"
    )
    landing = client.get(links.invite_path(campaign, member_a.pk))
    assert landing.status_code == 302
    assert f"/h5/j/{campaign.live_code.token}/" in landing["Location"]
    assert f"ref={member_a.pk}" in landing["Location"]
    device_id = client.cookies[links.DEVICE_COOKIE].value
    assert device_id
    card = client.get(landing["Location"])
    assert card.status_code == 200
    joined = client.post(landing["Location"], REMOTE_ADDR="203.0.113.9")
    assert joined.status_code == 302
    invite = Invite.objects.get(campaign=campaign, invitee=invitee)
    assert invite.inviter == member_a and invite.status == InviteStatus.PENDING
    assert invite.scene == "member_share" and invite.ip_prefix == "203.0.113.0/24"
    assert invite.device_hash == links.device_hash(device_id, "Mozilla/5.0 (iPhone) MicroMessenger")


def test_forged_or_ended_link_is_not_found(campaign, member_a, hq_admin, brand):
    client = member_client(MemberFactory(brand=brand))
    token = links.invite_token(campaign.pk, member_a.pk)
    assert client.get(f"/h5/r/{token}x/").status_code == 404
    campaigns.update_campaign(hq_admin, campaign.pk, {"active": False})
    assert client.get(f"/h5/r/{token}/").status_code == 404


def test_my_invites_page_shows_link_poster_and_invitees(campaign, member_a, brand):
    client = member_client(member_a)
    page = client.get("/h5/invites/")
    assert page.status_code == 200
    html = page.content.decode()
    assert links.invite_token(campaign.pk, member_a.pk) in html
    assert f"/h5/invites/{campaign.pk}/poster.png" in html


def test_my_invites_needs_sign_in(campaign):
    from django.test import Client

    response = Client().get("/h5/invites/")
    assert response.status_code == 302 and "/h5/login/" in response["Location"]


def test_poster_is_a_png_whose_qr_carries_the_invite_url(campaign, member_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = member_client(member_a)
    response = client.get(f"/h5/invites/{campaign.pk}/poster.png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    image.verify()
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size == posters.POSTER_SIZE
    decoded = zxingcpp.read_barcodes(image)
    expected = "http://testserver" + links.invite_path(campaign, member_a.pk)
    assert [b.text for b in decoded] == [expected]
    cached = list((tmp_path / "referral-posters" / str(campaign.pk)).glob(f"{member_a.pk}-v1-*.png"))
    assert len(cached) == 1
    assert client.get(f"/h5/invites/{campaign.pk}/poster.png").content == response.content


def test_poster_cache_follows_the_art_version(campaign, member_a, hq_admin, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    first = posters.poster_png(campaign, member_a, "https://shop.example.com/")
    changed = campaigns.update_campaign(hq_admin, campaign.pk, {"art_color": "#2255aa"})
    second = posters.poster_png(changed, member_a, "https://shop.example.com/")
    assert first != second
    assert len(list((tmp_path / "referral-posters" / str(campaign.pk)).glob("*.png"))) == 2


def test_poster_of_an_ended_or_unknown_campaign_is_404(campaign, brand, hq_admin):
    client = member_client(MemberFactory(brand=brand))
    assert client.get("/h5/invites/999999/poster.png").status_code == 404
    campaigns.update_campaign(hq_admin, campaign.pk, {"active": False})
    assert client.get(f"/h5/invites/{campaign.pk}/poster.png").status_code == 404
