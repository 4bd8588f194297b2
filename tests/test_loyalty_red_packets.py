"""Points red packets (拼手气红包): exact split, paid up front, one grab per member, the rest returned."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from siyu.channels.models import ChannelKind
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.communities.models import GroupDelivery, Message
from siyu.loyalty.models import PointsBudget, RedPacket, RedPacketShare
from siyu.loyalty.services import points, red_packets
from siyu.loyalty.services.points import InsufficientPoints
from siyu.org.models import AuditEntry
from tests.factories import (
    ConnectorFactory,
    MemberFactory,
    drop_packet,
    give_budget,
    give_points,
    in_group,
    make_group,
    make_kol,
)
from tests.race_support import needs_postgres, run_threads


def test_split_is_exact_and_every_share_at_least_one():
    rng = random.Random(7)
    for total, shares in [(10, 10), (11, 10), (100, 1), (1000, 7), (5, 2)]:
        for _ in range(50):
            parts = red_packets.split(total, shares, rng=rng)  # type: ignore[arg-type]
            assert len(parts) == shares and sum(parts) == total and min(parts) >= 1


def test_staff_drop_pays_from_budget_and_posts_a_grab_card(hq_admin, store_a):
    group = make_group(store_a)
    give_budget(store_a.brand, 500)
    packet = drop_packet(hq_admin, group, total=100, shares=10, greeting="周末快乐")
    assert PointsBudget.objects.get(brand=store_a.brand).remaining == 400
    shares = RedPacketShare.objects.filter(packet=packet)
    assert shares.count() == 10 and shares.aggregate(n=Sum("points"))["n"] == 100
    message = Message.objects.get(pk=packet.message_id)
    assert message.card["url"] == reverse("h5:red_packet", args=[packet.pk])
    assert message.card["button"] and message.card["title"] == "周末快乐"
    # the same key again: the same packet, nothing paid twice
    again = drop_packet(hq_admin, group, total=100, shares=10, greeting="周末快乐")
    assert again.pk == packet.pk and PointsBudget.objects.get(brand=store_a.brand).remaining == 400
    assert AuditEntry.objects.filter(action="loyalty.redpack").count() == 1
    with pytest.raises(Conflict):  # the same key for another packet
        drop_packet(hq_admin, group, total=90, shares=10, key=f"rp-{group.pk}-100-10")


def test_budget_too_small_writes_nothing(hq_admin, store_a):
    group = make_group(store_a)
    give_budget(store_a.brand, 50)
    with pytest.raises(Conflict):
        drop_packet(hq_admin, group, total=100, shares=10)
    assert not RedPacket.objects.exists() and not Message.objects.filter(community=group).exists()
    assert PointsBudget.objects.get(brand=store_a.brand).remaining == 50


def test_invalid_packets_are_refused(hq_admin, store_a):
    group = make_group(store_a)
    give_budget(store_a.brand, 500)
    with pytest.raises(ValidationFailed):
        drop_packet(hq_admin, group, total=5, shares=10)
    with pytest.raises(ValidationFailed):
        drop_packet(hq_admin, group, total=0, shares=1)
    with pytest.raises(ValidationFailed):
        drop_packet(hq_admin, group, total=100, shares=201)


def test_wecom_groups_refuse_red_packets(hq_admin, store_a):
    connector = ConnectorFactory(brand=store_a.brand, kind=ChannelKind.WECOM)
    group = make_group(store_a, channel=ChannelKind.WECOM, connector=connector, external_id="wrOgQ")
    give_budget(store_a.brand, 500)
    assert not red_packets.can_drop_in(group)
    with pytest.raises(Conflict) as info:
        drop_packet(hq_admin, group)
    assert "WeCom" in str(info.value.message)


def test_telegram_groups_get_a_post_with_a_link(hq_admin, store_a, settings):
    settings.SIYU_PUBLIC_URL = "https://siyu.example"
    connector = ConnectorFactory(brand=store_a.brand, kind=ChannelKind.TELEGRAM)
    group = make_group(store_a, channel=ChannelKind.TELEGRAM, connector=connector, external_id="-100123")
    give_budget(store_a.brand, 500)
    packet = drop_packet(hq_admin, group)
    delivery = GroupDelivery.objects.get(community=group)
    assert delivery.content["card"]["url"] == f"https://siyu.example/h5/red-packets/{packet.pk}/"


def test_store_staff_only_in_their_stores_and_clerks_not_at_all(manager_a, clerk_a, store_b):
    group_b = make_group(store_b)
    give_budget(store_b.brand, 500)
    with pytest.raises(NotFound):
        drop_packet(manager_a, group_b)
    with pytest.raises(PermissionDenied):
        drop_packet(clerk_a, group_b)


def test_grab_credits_once_and_the_packet_runs_out(hq_admin, store_a):
    group = make_group(store_a)
    give_budget(store_a.brand, 500)
    packet = drop_packet(hq_admin, group, total=10, shares=3)
    members = [in_group(MemberFactory(brand=store_a.brand, home_store=store_a), group) for _ in range(4)]
    got = [red_packets.grab(m, packet.pk) for m in members[:3]]
    assert all(g.created for g in got)
    assert sum(points.balance_of(m).balance for m in members[:3]) == 10
    again = red_packets.grab(members[0], packet.pk)
    assert not again.created and again.share.pk == got[0].share.pk
    assert points.balance_of(members[0]).balance == got[0].share.points
    with pytest.raises(red_packets.PacketEmpty):
        red_packets.grab(members[3], packet.pk)
    assert points.balance_of(members[3]).balance == 0


def test_only_members_of_the_group_can_grab(hq_admin, store_a, member_a):
    group = make_group(store_a)
    give_budget(store_a.brand, 500)
    packet = drop_packet(hq_admin, group)
    with pytest.raises(NotFound):
        red_packets.grab(member_a, packet.pk)


def test_kol_pays_from_own_points_and_gets_the_rest_back_after_a_day(store_a):
    group = make_group(store_a)
    kol = make_kol(MemberFactory(brand=store_a.brand, home_store=store_a), group)
    give_points(kol, 60)
    with pytest.raises(InsufficientPoints):
        red_packets.drop_by_kol(kol, group.pk, total=100, shares=5, key="k1")
    packet = red_packets.drop_by_kol(kol, group.pk, total=50, shares=5, key="k2")
    assert points.balance_of(kol).balance == 10
    grabber = in_group(MemberFactory(brand=store_a.brand, home_store=store_a), group)
    share = red_packets.grab(grabber, packet.pk).share
    # not yet due
    assert red_packets.return_expired() == 0
    later = timezone.now() + timedelta(hours=25)
    assert red_packets.return_expired(now=later) == 1
    assert red_packets.return_expired(now=later) == 0  # once
    packet.refresh_from_db()
    assert packet.status == RedPacket.Status.EXPIRED and packet.returned == 50 - share.points
    assert points.balance_of(kol, now=later).balance == 10 + 50 - share.points
    late = in_group(MemberFactory(brand=store_a.brand, home_store=store_a), group)
    with pytest.raises(Conflict):
        red_packets.grab(late, packet.pk, now=later)


def test_non_kol_member_cannot_drop(store_a, member_a):
    group = make_group(store_a)
    in_group(member_a, group)
    give_points(member_a, 100)
    with pytest.raises(NotFound):
        red_packets.drop_by_kol(member_a, group.pk, total=50, shares=5, key="k")


def test_staff_packet_returns_to_budget(hq_admin, store_a):
    group = make_group(store_a)
    give_budget(store_a.brand, 100)
    packet = drop_packet(hq_admin, group, total=100, shares=4)
    red_packets.return_expired(now=packet.expires_at + timedelta(seconds=1))
    assert PointsBudget.objects.get(brand=store_a.brand).remaining == 100
    assert RedPacketShare.objects.filter(packet=packet, returned=True).count() == 4


def test_h5_page_and_grab_button(client, hq_admin, store_a, member_a):
    group = make_group(store_a)
    in_group(member_a, group)
    give_budget(store_a.brand, 100)
    packet = drop_packet(hq_admin, group, total=30, shares=3)
    url = reverse("h5:red_packet", args=[packet.pk])
    assert client.get(url).status_code == 302  # sign in first
    session = client.session
    session["siyu_member_id"] = member_a.pk
    session.save()
    page = client.get(url)
    assert page.status_code == 200 and 'id="rp-grab"' in page.content.decode()
    response = client.post(reverse("h5:red_packet_grab", args=[packet.pk]))
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert 'id="rp-mine"' in page
    assert points.balance_of(member_a).balance > 0
    # another brand's or a non-member's packet looks absent
    assert client.get(reverse("h5:red_packet", args=[packet.pk + 1000])).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_fifty_members_grab_a_ten_share_packet_at_once(brand, store_a, hq_admin):
    needs_postgres()
    group = make_group(store_a)
    give_budget(brand, 1000)
    packet = drop_packet(hq_admin, group, total=777, shares=10)
    members = [in_group(MemberFactory(brand=brand, home_store=store_a), group) for _ in range(50)]
    outcomes = run_threads(50, lambda i: red_packets.grab(members[i], packet.pk))
    wins = [o for o in outcomes if isinstance(o, red_packets.GrabOutcome)]
    empties = [o for o in outcomes if isinstance(o, red_packets.PacketEmpty)]
    assert len(wins) == 10 and len(empties) == 40, outcomes
    assert len({w.share.pk for w in wins}) == 10
    credited = sum(points.balance_of(m).balance for m in members)
    assert credited == 777
    assert (
        RedPacketShare.objects.filter(packet=packet, grabbed_by__isnull=False).aggregate(n=Sum("points"))["n"]
        == 777
    )


@pytest.mark.django_db(transaction=True)
def test_one_member_grabbing_twice_at_once_gets_one_share(brand, store_a, hq_admin):
    needs_postgres()
    group = make_group(store_a)
    give_budget(brand, 1000)
    packet = drop_packet(hq_admin, group, total=100, shares=10)
    member = in_group(MemberFactory(brand=brand, home_store=store_a), group)
    outcomes = run_threads(8, lambda i: red_packets.grab(member, packet.pk))
    assert all(isinstance(o, red_packets.GrabOutcome) for o in outcomes), outcomes
    assert sum(o.created for o in outcomes) == 1
    assert RedPacketShare.objects.filter(packet=packet, grabbed_by=member).count() == 1


def test_kol_drops_from_h5_and_others_cannot(client, store_a, member_a):
    group = make_group(store_a)
    kol = make_kol(MemberFactory(brand=store_a.brand, home_store=store_a), group)
    give_points(kol, 100)
    in_group(member_a, group)
    session = client.session
    session["siyu_member_id"] = kol.pk
    session.save()
    assert 'id="chat-red-packet"' in client.get(reverse("h5:chat", args=[group.pk])).content.decode()
    url = reverse("h5:red_packet_drop", args=[group.pk])
    assert client.get(url).status_code == 200
    bad = client.post(url, {"total": "500", "shares": "5", "key": "k1"})
    assert bad.status_code == 400 and 'id="rp-error"' in bad.content.decode()
    response = client.post(url, {"total": "60", "shares": "6", "greeting": "谢谢大家", "key": "k2"})
    assert response.status_code == 302
    assert (
        client.post(url, {"total": "60", "shares": "6", "greeting": "谢谢大家", "key": "k2"}).status_code
        == 302
    )
    packet = RedPacket.objects.get()
    assert packet.member_id == kol.pk and points.balance_of(kol).balance == 40
    session["siyu_member_id"] = member_a.pk
    session.save()
    assert 'id="chat-red-packet"' not in client.get(reverse("h5:chat", args=[group.pk])).content.decode()
    assert client.get(url).status_code == 404
