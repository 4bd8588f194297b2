"""WeCom customer groups as they really work (issue 10, ADR 0012): no robot in a customer group — posts that
can wait become mass messages the group owner confirms, batched per owner within each group's monthly quota;
urgent ones (the 接龙 relay) wait for staff in the sidebar; outcomes read back from WeCom per group, owners
reminded, stale mass messages cancelled; the console shows per group what was delivered."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from siyu.campaigns.models import Campaign, FlashReservation, FlashSaleItem
from siyu.campaigns.services import flash_config, posts, relay
from siyu.catalog.models import Product, Sku
from siyu.channels.connectors.base import Capability, DeliveryPath, Unsupported
from siyu.channels.connectors.wecom import WeComConnector, mass_quota
from siyu.channels.models import OutboxMessage, WeComMassTask
from siyu.channels.services import outbox, wecom_mass
from siyu.communities.models import Community, GroupDelivery, MassQuota, StaffTask
from siyu.communities.services import mass
from siyu.communities.services.dispatch import dispatch
from siyu.members.models import Member
from tests.race_support import needs_postgres, run_threads
from tests.wecom_support import connect_wecom

pytestmark = pytest.mark.django_db

OWNERS = ("owner01", "owner02", "owner03")
S = GroupDelivery.Status


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.LANGUAGE_CODE = "zh-hans"  # a Chinese chain: reasons and the console in zh-Hans
    settings.SIYU_OUTBOX_DISPATCH = "off"  # the test drives the outbox with a simulated clock
    settings.SIYU_PUBLIC_URL = "https://siyu.example.com"
    cache.clear()
    flash_config.invalidate()
    yield
    flash_config.invalidate()


@pytest.fixture
def fake(fake_wecom):
    return fake_wecom


@pytest.fixture
def wecom(fake, store_a):
    return connect_wecom(fake, store_a)


def _groups(fake, wecom, stores) -> list[Community]:
    """30 WeCom groups, 10 per owner; the first 20 in store A, the rest in store B."""
    out = []
    for i in range(30):
        owner = OWNERS[i % 3]
        chat_id = f"wr{i:03d}"
        fake.add_group(chat_id, f"秒杀群{i}", owner=owner)
        store = stores[0] if i < 20 else stores[1]
        out.append(
            Community.objects.create(
                brand=store.brand,
                store=store,
                channel="wecom",
                connector=wecom,
                external_id=chat_id,
                channel_owner=owner,
                name=f"{store.name}·秒杀群{i}",
                sequence=i + 1,
                hard_cap=500,
                recommended_size=200,
            )
        )
    return out


def _flash_sale(brand, groups, *, starts_at, hours=2) -> tuple[Campaign, FlashSaleItem]:
    product = Product.objects.create(brand=brand, name="北欧陶瓷杯")
    sku = Sku.objects.create(product=product, code="CUP-N1", price_fen=3900)
    ends_at = starts_at + timedelta(hours=hours)
    campaign = Campaign.objects.create(
        brand=brand,
        kind="flash_sale",
        title="周末秒杀",
        status="published",
        starts_at=starts_at,
        ends_at=ends_at,
        pickup_until=ends_at + timedelta(days=2),
        relay_enabled=True,
        admission_backend="database",
    )
    campaign.communities.set(groups)
    item = FlashSaleItem.objects.create(campaign=campaign, sku=sku, price_fen=990, stock=500)
    return campaign, item


def _buy(item, store, n: int, at) -> None:
    Member.objects.bulk_create(
        [Member(brand=store.brand, home_store=store, mobile=f"137{i:08d}", name=f"王小{i}") for i in range(n)]
    )
    members = list(Member.objects.filter(mobile__startswith="137").order_by("mobile"))
    FlashReservation.objects.bulk_create(
        [
            FlashReservation(
                campaign_id=item.campaign_id,
                item=item,
                member=m,
                store=store,
                quantity=1,
                client_key=f"k{m.pk}",
                admitted_at=at + timedelta(milliseconds=i),
            )
            for i, m in enumerate(members)
        ]
    )
    FlashSaleItem.objects.filter(pk=item.pk).update(sold=F("sold") + n)


def _text(response) -> str:
    assert response.status_code == 200
    html = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_flash_sale_in_30_wecom_groups_of_3_owners(
    brand, store_a, store_b, wecom, fake, client, hq_admin, clerk_a
):
    now = timezone.now().replace(microsecond=0)
    groups = _groups(fake, wecom, [store_a, store_b])
    by_chat = {g.external_id: g for g in groups}
    quota = mass_quota("days_in_month", now)
    at_quota = [groups[0], groups[4], groups[8]]  # one or two per owner have had this month's allowance
    for g in at_quota:
        MassQuota.objects.create(community=g, period=quota.period, used=quota.limit)
    refused = groups[7]  # WeCom will refuse this one (e.g. its owner changed in the client meanwhile)
    fake.refuse_chats = {refused.external_id}
    _campaign, item = _flash_sale(brand, groups, starts_at=now - timedelta(seconds=5))

    # The sale starts: its start post (card + text, can wait) into every group; buyers come; the relay runs.
    assert posts.run_due_posts(now=now) > 0
    _buy(item, store_a, 40, now - timedelta(seconds=2))
    relay.run_relay(now=now)

    # Relay lines cannot wait: every group has them in the sidebar, for staff.
    for g in groups:
        relay_rows = GroupDelivery.objects.filter(community=g, kind=GroupDelivery.Kind.RELAY)
        assert relay_rows.exists()
        assert set(relay_rows.values_list("path", "status")) == {(DeliveryPath.STAFF, S.WAITING_STAFF)}
        assert "1. 王**" in relay_rows.order_by("id").first().content["text"]
    # Campaign posts wait for the owner's mass message.
    campaign_rows = GroupDelivery.objects.filter(kind=GroupDelivery.Kind.CAMPAIGN)
    assert campaign_rows.count() == 60  # card + text per group
    assert set(campaign_rows.values_list("path", "status")) == {(DeliveryPath.OWNER_CONFIRM, S.PENDING)}

    # The batcher: one mass message per owner (identical content), groups at quota to staff.
    assert mass.batch_mass_messages(now=now) == 3
    assert mass.batch_mass_messages(now=now) == 0  # nothing is batched twice
    for g in at_quota:
        rows = GroupDelivery.objects.filter(community=g, kind=GroupDelivery.Kind.CAMPAIGN)
        assert set(rows.values_list("status", flat=True)) == {S.WAITING_STAFF}
        assert all("群发次数已用完" in r for r in rows.values_list("reason", flat=True))
        assert MassQuota.objects.get(community=g, period=quota.period).used == quota.limit  # not exceeded
    outbox.dispatch_due(now=timezone.now())

    calls = fake.calls("/add_msg_template")
    assert len(calls) == 3
    bodies = [c.json() for c in calls]
    assert sorted(b["sender"] for b in bodies) == sorted(OWNERS)
    for body in bodies:
        assert body["chat_type"] == "group"
        chats = body["chat_id_list"]
        assert all(by_chat[c].channel_owner == body["sender"] for c in chats)  # each to its owner's groups
        assert not {g.external_id for g in at_quota} & set(chats)
        assert "周末秒杀" in body["text"]["content"]
        assert body["attachments"][0]["link"]["url"].startswith("https://siyu.example.com/")
    assert sum(len(b["chat_id_list"]) for b in bodies) == 27
    # Never a robot webhook call for a customer group.
    assert fake.calls("/webhook/send") == [] and fake.violations == []
    assert not OutboxMessage.objects.filter(action__in=["post", "announce"]).exists()

    # WeCom accepted: the owners' groups wait for them; the refused one failed with the reason.
    assert set(
        GroupDelivery.objects.filter(community=refused, kind="campaign").values_list("status", flat=True)
    ) == {S.FAILED}
    waiting = GroupDelivery.objects.filter(status=S.WAITING_OWNER)
    assert waiting.count() == 2 * 26 and waiting.exclude(mass_msgid="").count() == 52
    # Each owner gets one task to confirm in 群发助手 (pushed to their WeCom), whatever the number of groups.
    confirm_tasks = StaffTask.objects.filter(kind=StaffTask.Kind.CONFIRM_MASS)
    assert sorted(t.payload["owner_userid"] for t in confirm_tasks) == list(OWNERS)

    # Owner 1 confirms (one group "not a friend"), owner 2 confirms, owner 3 leaves it unsent.
    msg = {o: fake.mass_of(o)[0]["msgid"] for o in OWNERS}
    not_friend = groups[3]  # owner01's
    fake.page_size = 4  # results come in pages: the read-back follows the cursor
    fake.confirm(msg["owner01"], outcomes={not_friend.external_id: 2}, at=int(now.timestamp()) + 600)
    fake.confirm(msg["owner02"], at=int(now.timestamp()) + 900)
    wecom_mass.read_back_mass_tasks(now=now + timedelta(minutes=20))

    for g in groups:
        rows = GroupDelivery.objects.filter(community=g, kind=GroupDelivery.Kind.CAMPAIGN)
        statuses = set(rows.values_list("status", flat=True))
        if g in at_quota:
            assert statuses == {S.WAITING_STAFF}
        elif g == refused:
            assert statuses == {S.FAILED}
        elif g == not_friend:
            assert statuses == {S.FAILED}
            assert "不是好友" in rows.first().reason
        elif g.channel_owner in ("owner01", "owner02"):
            assert statuses == {S.CONFIRMED}
            assert rows.first().delivered_at is not None
        else:
            assert statuses == {S.WAITING_OWNER}
    tasks = {t.sender: t for t in WeComMassTask.objects.all()}
    assert tasks["owner01"].status == tasks["owner02"].status == WeComMassTask.Status.DONE
    assert tasks["owner03"].status == WeComMassTask.Status.OPEN
    # The confirmed ones' tasks are done; owner 3's is still open.
    assert {
        t.payload["owner_userid"]: t.status
        for t in StaffTask.objects.filter(kind=StaffTask.Kind.CONFIRM_MASS)
    } == {"owner01": "done", "owner02": "done", "owner03": "open"}

    # After an hour the unsent one is reminded (once), through the outbox.
    wecom_mass.read_back_mass_tasks(now=now + timedelta(minutes=61))
    wecom_mass.read_back_mass_tasks(now=now + timedelta(minutes=62))
    outbox.dispatch_due(now=now + timedelta(minutes=62))
    reminds = fake.calls("/remind_groupmsg_send")
    assert [r.json() for r in reminds] == [{"msgid": msg["owner03"]}]
    # The sale ends (2 h): the post is stale — cancelled at WeCom, its groups' deliveries expired.
    wecom_mass.read_back_mass_tasks(now=now + timedelta(hours=2, minutes=1))
    outbox.dispatch_due(now=now + timedelta(hours=2, minutes=1))
    assert [r.json() for r in fake.calls("/cancel_groupmsg_send")] == [{"msgid": msg["owner03"]}]
    assert fake.mass[msg["owner03"]]["cancelled"]
    owner3 = [g for g in groups if g.channel_owner == "owner03" and g not in at_quota]
    for g in owner3:
        rows = GroupDelivery.objects.filter(community=g, kind=GroupDelivery.Kind.CAMPAIGN)
        assert set(rows.values_list("status", flat=True)) == {S.EXPIRED}
    assert WeComMassTask.objects.get(sender="owner03").status == WeComMassTask.Status.CANCELLED
    assert not StaffTask.objects.filter(kind=StaffTask.Kind.CONFIRM_MASS, status="open").exists()
    assert len(fake.calls("/remind_groupmsg_send")) <= 3
    assert fake.calls("/webhook/send") == [] and fake.violations == []

    # The console shows per group what was delivered.
    client.force_login(hq_admin)
    confirmed_group = next(g for g in groups if g.channel_owner == "owner02" and g not in at_quota)
    page = _text(client.get(reverse("console:group_detail", args=[confirmed_group.pk])))
    assert "投递记录" in page
    assert "群主 owner02 于" in page and "以群发方式发送" in page  # sent by the group owner as a mass message
    assert "等待店员从侧边栏发送" in page  # the relay lines wait for staff in the sidebar
    page = _text(client.get(reverse("console:group_detail", args=[not_friend.pk])))
    assert "群主与本群成员已不是好友" in page
    page = _text(client.get(reverse("console:group_detail", args=[owner3[0].pk])))
    assert "群主未及时确认群发，已取消" in page
    page = _text(client.get(reverse("console:group_detail", args=[at_quota[0].pk])))
    assert "本月的群发次数已用完" in page
    assert "UTC" not in page

    listing = client.get(reverse("console:deliveries"))
    text = _text(listing)
    assert all(o in text for o in OWNERS)  # one row per mass message, with its owner
    rows = listing.context["mass_rows"]
    counts = {r.owner: (r.groups, r.confirmed, r.waiting, r.failed + r.expired) for r in rows}
    # owner01: 9 groups in the message (one at quota), 8 confirmed, one "not a friend" — two posts each.
    assert counts["owner01"] == (9, 16, 0, 2)
    assert counts["owner02"] == (9, 16, 0, 2)  # 10 groups, one at quota; WeCom refused one of the 9
    assert counts["owner03"] == (9, 0, 0, 18)

    # Store staff see only their stores' groups and deliveries.
    client.force_login(clerk_a)
    assert client.get(reverse("console:group_detail", args=[groups[25].pk])).status_code == 404
    listing = client.get(reverse("console:deliveries"))
    assert {r.delivery.community.store_id for r in listing.context["rows"]} == {store_a.pk}
    assert client.get(reverse("console:deliveries"), {"store": store_b.pk}).status_code == 404
    ours = {r.owner: r.groups for r in listing.context["mass_rows"]}
    assert sum(ours.values()) == len(
        {g.pk for g in groups[:20] if g not in at_quota}
    )  # only store A's groups counted


# --- the connector's declarations -------------------------------------------------------------------------


def test_wecom_connector_declares_what_wecom_can_do_and_refuses_to_post(wecom):
    impl = WeComConnector(wecom)
    assert impl.delivery_paths == (DeliveryPath.OWNER_CONFIRM, DeliveryPath.STAFF)
    assert impl.capabilities == frozenset({Capability.JOIN_LINK, Capability.RECEIVE_MEMBER_EVENTS})
    for action in ("post", "announce"):
        with pytest.raises(Unsupported, match="mass message"):
            impl.perform(action, {"chat_id": "wr1", "text": "hi"})


def test_mass_quota_rules():
    at = timezone.make_aware(timezone.datetime(2026, 2, 10, 12, 0))
    assert mass_quota(None, at).limit == 28 and mass_quota(None, at).period == "2026-02"
    assert mass_quota("days_in_month", at).limit == 28
    assert mass_quota("7_per_week", at).limit == 7 and mass_quota("7_per_week", at).period == "2026-W07"
    assert mass_quota("1_per_day", at).period == "2026-02-10"
    assert mass_quota(4, at).limit == 4 and mass_quota("4", at).limit == 4


def test_quota_reservation_never_exceeds_the_limit(brand, store_a, wecom):
    group = Community.objects.create(
        brand=brand,
        store=store_a,
        channel="wecom",
        connector=wecom,
        external_id="wrq",
        name="q",
        hard_cap=500,
    )
    quota = mass_quota(2)
    assert [mass.reserve_quota(group, quota) for _ in range(4)] == [True, True, False, False]
    assert MassQuota.objects.get(community=group, period=quota.period).used == 2


def test_a_group_without_a_known_owner_goes_to_staff(brand, store_a, wecom):
    group = Community.objects.create(
        brand=brand,
        store=store_a,
        channel="wecom",
        connector=wecom,
        external_id="wrx",
        name="x",
        hard_cap=500,
    )
    delivery = dispatch(group, {"text": "本周活动"}, kind=GroupDelivery.Kind.ANNOUNCEMENT, key="k1")
    assert delivery is not None
    assert (delivery.path, delivery.status) == (DeliveryPath.STAFF, S.WAITING_STAFF)
    assert "群主" in delivery.reason


# --- concurrency (PostgreSQL) -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_batchers_batch_each_post_once_within_quota(brand, store_a, wecom, fake):
    needs_postgres()
    wecom.config["mass_quota"] = 1  # one a month: a second mass message per group would exceed it
    wecom.save(update_fields=["config"])
    groups = []
    for i in range(12):
        fake.add_group(f"wrc{i}", f"群{i}", owner=OWNERS[i % 2])
        groups.append(
            Community.objects.create(
                brand=brand,
                store=store_a,
                channel="wecom",
                connector=wecom,
                external_id=f"wrc{i}",
                channel_owner=OWNERS[i % 2],
                name=f"群{i}",
                sequence=i + 1,
                hard_cap=500,
            )
        )
    for g in groups:
        dispatch(g, {"text": "周末活动"}, kind=GroupDelivery.Kind.CAMPAIGN, key="c1")
        dispatch(g, {"text": "下周预告"}, kind=GroupDelivery.Kind.CAMPAIGN, key="c2")
    results = run_threads(6, lambda _i: mass.batch_mass_messages())
    assert not [r for r in results if isinstance(r, Exception) and "another batcher" not in str(r)]
    rows = OutboxMessage.objects.filter(action="mass_message")
    chats = [c for r in rows for c in r.payload["chat_id_list"]]
    assert sorted(chats) == sorted(g.external_id for g in groups)  # every group in exactly one message
    assert all(q.used == 1 for q in MassQuota.objects.all()) and MassQuota.objects.count() == 12
    # Both posts of a group went into its one message (merged): nothing was left for a second one.
    assert not GroupDelivery.objects.filter(status=S.PENDING, outbox_id__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_quota_reservations_stop_at_the_limit(brand, store_a, wecom):
    needs_postgres()
    group = Community.objects.create(
        brand=brand,
        store=store_a,
        channel="wecom",
        connector=wecom,
        external_id="wrr",
        name="r",
        hard_cap=500,
    )
    quota = mass_quota(3)
    results = run_threads(10, lambda _i: mass.reserve_quota(group, quota))
    assert results.count(True) == 3 and results.count(False) == 7
    assert MassQuota.objects.get(community=group).used == 3


def _owned_group(brand, store, wecom, fake, chat_id: str, owner: str = "owner01") -> Community:
    fake.add_group(chat_id, chat_id, owner=owner)
    return Community.objects.create(
        brand=brand,
        store=store,
        channel="wecom",
        connector=wecom,
        external_id=chat_id,
        channel_owner=owner,
        name=chat_id,
        hard_cap=500,
    )


def test_a_mass_message_wecom_refuses_goes_to_staff_and_gives_the_quota_back(brand, store_a, wecom, fake):
    group = _owned_group(brand, store_a, wecom, fake, "wrf")
    dispatch(group, {"text": "本周活动"}, kind=GroupDelivery.Kind.ANNOUNCEMENT, key="a1")
    assert mass.batch_mass_messages() == 1
    assert MassQuota.objects.get(community=group).used == 1
    fake.fail_next = [48002]  # no API permission (the app is not listed under 客户联系): not retryable
    outbox.dispatch_due(now=timezone.now() + timedelta(seconds=1))
    delivery = GroupDelivery.objects.get(community=group)
    assert (delivery.path, delivery.status) == (DeliveryPath.STAFF, S.WAITING_STAFF)
    assert "48002" in delivery.reason
    assert MassQuota.objects.get(community=group).used == 0
    assert not WeComMassTask.objects.exists()


def test_a_post_past_its_expiry_is_not_batched(brand, store_a, wecom, fake):
    group = _owned_group(brand, store_a, wecom, fake, "wre")
    now = timezone.now()
    dispatch(
        group,
        {"text": "今晚8点开抢"},
        kind=GroupDelivery.Kind.CAMPAIGN,
        key="e1",
        expires_at=now - timedelta(minutes=1),
    )
    assert mass.batch_mass_messages(now=now) == 0
    assert GroupDelivery.objects.get(community=group).status == S.EXPIRED
    assert not MassQuota.objects.exists() and fake.requests == []


def test_owner_reminded_at_most_three_times(brand, store_a, wecom, fake):
    group = _owned_group(brand, store_a, wecom, fake, "wrm")
    dispatch(group, {"text": "会员日"}, kind=GroupDelivery.Kind.ANNOUNCEMENT, key="m1")
    mass.batch_mass_messages()
    outbox.dispatch_due(now=timezone.now() + timedelta(seconds=1))
    task = WeComMassTask.objects.get()
    start = task.created_at
    for minutes in range(0, 23 * 60, 30):  # every half hour for 23 hours, unsent
        at = start + timedelta(minutes=minutes)
        wecom_mass.read_back_mass_tasks(now=at)
        outbox.dispatch_due(now=at + timedelta(seconds=1))
    reminded = sorted(t for t in fake.mass[task.msgid]["reminders"])
    assert len(reminded) == 3 and WeComMassTask.objects.get().reminders == 3
    assert GroupDelivery.objects.get(community=group).status == S.WAITING_OWNER
    wecom_mass.read_back_mass_tasks(now=start + timedelta(hours=24, minutes=1))  # default: cancelled at 24 h
    assert GroupDelivery.objects.get(community=group).status == S.EXPIRED
