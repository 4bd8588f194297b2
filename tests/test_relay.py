"""The 接龙 relay: numbering in admission order, every line posted exactly once within each channel's rate
and size limits (1,000 orders in a minute; on WeCom, for staff — no robot), masked names, low-stock and
sold-out notices once per group, web pacing, the ended sale's tail, and concurrent relays (PostgreSQL)."""

from __future__ import annotations

import itertools
import re
import threading
from datetime import datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models import F
from django.utils import timezone

from siyu.campaigns.models import Campaign, FlashReservation, FlashSaleItem, RelayCursor, RelayPost
from siyu.campaigns.services import flash_config, relay
from siyu.catalog.models import Product, Sku
from siyu.channels.connectors.wecom import ROBOT_TEXT_MAX
from siyu.channels.models import Connector, OutboxMessage
from siyu.channels.services import outbox
from siyu.communities.models import Community, GroupDelivery, Message
from siyu.members.models import Member
from tests.fakes.telegram import BOT_TOKEN
from tests.race_support import is_postgres
from tests.wecom_support import connect_wecom

pytestmark = pytest.mark.django_db

LINE_RE = re.compile(r"^(\d+)\. ", re.MULTILINE)
SURNAMES = "王李张刘陈杨黄赵吴周"


@pytest.fixture(autouse=True)
def _quiet_outbox(settings):
    # The tests drive the dispatcher themselves, with a simulated clock.
    settings.SIYU_OUTBOX_DISPATCH = "off"
    cache.clear()
    flash_config.invalidate()  # campaign ids may repeat between tests
    yield
    flash_config.invalidate()


@pytest.fixture
def fake(fake_wecom):
    return fake_wecom


@pytest.fixture
def wecom(fake, store_a):
    return connect_wecom(fake, store_a)


@pytest.fixture
def sku(brand):
    product = Product.objects.create(brand=brand, name="北欧陶瓷杯")
    return Sku.objects.create(product=product, code="CUP-N1", price_fen=3900)


def _group(store, *, channel="web", connector=None, external_id="", sequence=1) -> Community:
    return Community.objects.create(
        brand=store.brand,
        store=store,
        channel=channel,
        connector=connector,
        external_id=external_id,
        name=f"{store.name}·秒杀群{sequence}",
        sequence=sequence,
        hard_cap=500,
        recommended_size=200,
    )


def _sale(
    brand, sku, groups, *, starts_at: datetime, minutes: float = 1, stock: int = 100, relay_enabled=True
) -> tuple[Campaign, FlashSaleItem]:
    ends_at = starts_at + timedelta(minutes=minutes)
    campaign = Campaign.objects.create(
        brand=brand,
        kind="flash_sale",
        title="周末秒杀",
        status="published",
        starts_at=starts_at,
        ends_at=ends_at,
        pickup_until=ends_at + timedelta(days=2),
        relay_enabled=relay_enabled,
        admission_backend="database",
    )
    campaign.communities.set(groups)
    item = FlashSaleItem.objects.create(campaign=campaign, sku=sku, price_fen=990, stock=stock)
    return campaign, item


def _members(brand, store, n: int, *, start: int = 0) -> list[Member]:
    Member.objects.bulk_create(
        [
            Member(
                brand=brand,
                home_store=store,
                mobile=f"137{start + i:08d}",
                name=f"{SURNAMES[i % len(SURNAMES)]}小{i}" if i % 7 else "",
            )
            for i in range(n)
        ]
    )
    return list(Member.objects.filter(mobile__startswith="137").order_by("mobile"))[start : start + n]


def _reserve(item, store, members, times, quantities=None) -> list[FlashReservation]:
    """Admitted purchases written straight to the database (as the database backend does), sold counted."""
    quantities = quantities or [1] * len(members)
    rows = FlashReservation.objects.bulk_create(
        [
            FlashReservation(
                campaign_id=item.campaign_id,
                item=item,
                member=m,
                store=store,
                quantity=q,
                client_key=f"k{m.pk}-{t.timestamp()}",
                admitted_at=t,
            )
            for m, t, q in zip(members, times, quantities, strict=True)
        ]
    )
    FlashSaleItem.objects.filter(pk=item.pk).update(sold=F("sold") + sum(quantities))
    return rows


def _texts(group) -> list[str]:
    return list(
        Message.objects.filter(community=group, sender_kind="robot")
        .order_by("id")
        .values_list("text", flat=True)
    )


def _seqs(texts) -> list[int]:
    return [int(s) for text in texts for s in LINE_RE.findall(text)]


# --- the required scenario: 1,000 orders in one minute into a WeCom group -------------------------------


def test_thousand_orders_in_a_minute_into_a_wecom_group_wait_for_staff(brand, store_a, sku, wecom, fake):
    """No robot can be in a WeCom customer group: the relay prepares its messages for the staff sidebar
    (a few full ones a minute), and nothing is sent to WeCom by itself."""
    group = _group(store_a, channel="wecom", connector=wecom, external_id="wr-flash")
    web = _group(store_a, sequence=2)
    base = timezone.now().replace(microsecond=0) + timedelta(seconds=5)
    campaign, item = _sale(brand, sku, [group, web], starts_at=base, stock=1600)
    members = _members(brand, store_a, 1000)
    times = [base + timedelta(milliseconds=60 * i) for i in range(1000)]  # spread over one minute
    quantities = [1 + i % 2 for i in range(1000)]  # 1,500 units: stock ends at 100 (≤ 20 %)
    clock = {"now": base}
    fake.clock = lambda: clock["now"].timestamp()

    written = 0
    for step in range(600):  # every simulated second, for up to ten minutes
        clock["now"] = now = base + timedelta(seconds=step)
        upto = sum(1 for t in times if t <= now)
        if upto > written:
            _reserve(item, store_a, members[written:upto], times[written:upto], quantities[written:upto])
            written = upto
        relay.run_relay(now=now)
        outbox.dispatch_due(now=now)
        if (
            written == 1000
            and RelayCursor.objects.filter(campaign=campaign, last_seq=1000).count() == 2
            and not OutboxMessage.objects.filter(status="pending").exists()
        ):
            break
    assert not OutboxMessage.objects.exists()
    assert fake.requests == [] and fake.violations == []  # nothing went to WeCom, least of all a robot
    sent = list(GroupDelivery.objects.filter(community=group, kind="relay").order_by("id"))
    assert {(d.path, d.status) for d in sent} == {("staff", "waiting_staff")}
    # (a) a few messages per minute for staff: at most STAFF_PER_ROUND per STAFF_PACE.
    at = sorted(RelayPost.objects.filter(community=group, kind="lines").values_list("created_at", flat=True))
    for i, start in enumerate(at):
        assert sum(1 for t in at[i:] if t < start + relay.STAFF_PACE) <= relay.STAFF_PER_ROUND
    # (b) every line 1..1000 exactly once, in order.
    texts = [d.content["text"] for d in sent]
    assert _seqs(texts) == list(range(1, 1001))
    # (c) every message within WeCom's text limit (so nothing was cut).
    assert all(len(t.encode("utf-8")) <= ROBOT_TEXT_MAX for t in texts)
    assert not any(t.endswith("…") for t in texts)
    # Lines look right and names are masked.
    first = FlashReservation.objects.select_related("member").get(campaign=campaign, seq=1)
    assert f"1. {relay.masked_name(first.member)} got 1 × 北欧陶瓷杯" in texts[0]
    joined = "\n".join(texts)
    assert "\n1. 137****0000 got 1 × 北欧陶瓷杯\n" in joined and "\n2. 李** got 2 × 北欧陶瓷杯\n" in joined
    assert texts[0].startswith("[Flash sale relay] 周末秒杀")
    for m in members[:50]:
        assert not any(m.mobile in t or (m.name and m.name in t) for t in texts)
    assert any("****" in t for t in texts)  # members without a name: masked mobile
    # "Only N left" once (≤ 20 % of 1,600), in a relay message, never a message of its own.
    low = RelayPost.objects.get(campaign=campaign, community=group, kind="low_stock")
    carrier = RelayPost.objects.get(campaign=campaign, community=group, kind="lines", last_seq=low.last_seq)
    assert low.message is None and carrier.message.text.endswith(" left!")
    assert sum("left!" in t for t in texts) == 1
    # The relay batched: far fewer messages than orders; the log covers 1..1000 without overlap.
    assert len(sent) <= 40
    posts = RelayPost.objects.filter(campaign=campaign, community=group, kind="lines").order_by("first_seq")
    expected = 1
    for post in posts:
        assert post.first_seq == expected
        expected = post.last_seq + 1
    assert expected == 1001
    # The web group got every line too, at most one post per 3 s.
    assert _seqs(_texts(web)) == list(range(1, 1001))
    web_times = sorted(
        RelayPost.objects.filter(community=web, kind="lines").values_list("created_at", flat=True)
    )
    assert all(b - a >= timedelta(seconds=3) for a, b in itertools.pairwise(web_times))


# --- numbering and lines --------------------------------------------------------------------------------


def test_numbering_follows_admission_order_and_survives_release(brand, store_a, sku, member_a, member_b):
    web = _group(store_a)
    now = timezone.now()
    campaign, item = _sale(brand, sku, [web], starts_at=now - timedelta(seconds=30))
    erased = Member.objects.create(brand=brand, mobile=None, name="")
    # Written out of admission order (as the write-behind writer may): numbered by admitted_at.
    late, early, middle = _reserve(
        item,
        store_a,
        [member_a, member_b, erased],
        [now - timedelta(seconds=5), now - timedelta(seconds=20), now - timedelta(seconds=10)],
        [2, 1, 1],
    )
    assert relay.number_reservations(campaign.pk) == 3
    assert relay.number_reservations(campaign.pk) == 0
    seqs = {r.pk: r.seq for r in FlashReservation.objects.filter(campaign=campaign)}
    assert (seqs[early.pk], seqs[middle.pk], seqs[late.pk]) == (1, 2, 3)
    FlashReservation.objects.filter(pk=early.pk).update(status="released", released_at=now)
    assert relay.run_relay(now=now) == 1
    text = _texts(web)[0]
    assert text.splitlines() == [
        "[Flash sale relay] 周末秒杀",
        "1. 李** got 1 × 北欧陶瓷杯",
        "2. Member got 1 × 北欧陶瓷杯",
        "3. 王** got 2 × 北欧陶瓷杯",
    ]
    assert "王小明" not in text and "13812341234" not in text and "李小红" not in text
    # Later purchases continue the numbering; the released one kept its number.
    _reserve(item, store_a, [member_a], [now])
    relay.number_reservations(campaign.pk)
    assert FlashReservation.objects.get(pk=early.pk).seq == 1
    seqs = FlashReservation.objects.filter(campaign=campaign).values_list("seq", flat=True)
    assert sorted(seqs) == [1, 2, 3, 4]


def test_masked_name_never_shows_full_name_or_number(member_a):
    assert relay.masked_name(member_a) == "王**"
    member_a.name = ""
    assert relay.masked_name(member_a) == "138****1234"
    member_a.mobile = None
    assert relay.masked_name(member_a) == "Member"
    assert relay.masked_name(None) == "Member"


def test_reruns_post_nothing_new_and_disabled_relay_posts_nothing(brand, store_a, sku, member_a, member_b):
    web = _group(store_a)
    now = timezone.now()
    campaign, item = _sale(brand, sku, [web], starts_at=now - timedelta(seconds=30))
    off, off_item = _sale(brand, sku, [web], starts_at=now - timedelta(seconds=30), relay_enabled=False)
    _reserve(item, store_a, [member_a, member_b], [now - timedelta(seconds=2)] * 2)
    _reserve(off_item, store_a, [member_a], [now - timedelta(seconds=2)])
    assert relay.run_relay(now=now) == 1
    assert relay.run_relay(now=now) == 0
    assert relay.run_relay(now=now + timedelta(seconds=10)) == 0
    assert RelayPost.objects.filter(campaign=campaign).count() == 1
    assert not RelayPost.objects.filter(campaign=off).exists()
    assert not RelayCursor.objects.filter(campaign=off).exists()
    assert FlashReservation.objects.get(campaign=off).seq is None  # not numbered either
    assert len(_texts(web)) == 1


def test_web_group_is_paced_one_post_per_three_seconds(brand, store_a, sku):
    web = _group(store_a)
    base = timezone.now()
    _campaign, item = _sale(brand, sku, [web], starts_at=base - timedelta(seconds=1), stock=500)
    members = _members(brand, store_a, 12)
    posted = []
    for step in range(12):
        now = base + timedelta(seconds=step)
        _reserve(item, store_a, [members[step]], [now])
        posted.append(relay.run_relay(now=now))
    # Seconds 0, 3, 6, 9 post; the lines of the seconds in between wait and go together.
    assert posted == [1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0]
    assert relay.run_relay(now=base + timedelta(seconds=12)) == 1
    texts = _texts(web)
    assert len(texts) == 5 and _seqs(texts) == list(range(1, 13))
    assert _seqs(texts[1:2]) == [2, 3, 4]


def test_telegram_group_waits_for_its_queued_message_and_splits_by_size(brand, store_a, sku):
    bot = Connector.objects.create(
        brand=brand, kind="telegram", name="bot", config={"bot_token": BOT_TOKEN, "api_base": "http://x"}
    )
    group = _group(store_a, channel="telegram", connector=bot, external_id="-1001234")
    base = timezone.now()
    campaign, item = _sale(brand, sku, [group], starts_at=base - timedelta(seconds=1), stock=2000)
    campaign.title = "超" * 100
    campaign.save(update_fields=["title"])
    members = _members(brand, store_a, 400)
    _reserve(item, store_a, members, [base] * 400)
    # 400 lines do not fit in one Telegram message: several, each within 4,000 UTF-16 units.
    posts = relay.run_relay(now=base)
    assert posts >= 2
    rows = list(OutboxMessage.objects.filter(community_id=group.pk).order_by("id"))
    assert len(rows) == posts
    assert all(len(r.payload["text"].encode("utf-16-le")) // 2 <= 4000 for r in rows)
    assert _seqs([r.payload["text"] for r in rows]) == list(range(1, 401))
    # More lines while those wait in the outbox: nothing more is queued; the lines accumulate.
    more = _members(brand, store_a, 5, start=400)
    _reserve(item, store_a, more, [base + timedelta(seconds=1)] * 5)
    assert relay.run_relay(now=base + timedelta(seconds=10)) == 0
    OutboxMessage.objects.filter(community_id=group.pk).update(status="sent", sent_at=base)
    assert relay.run_relay(now=base + timedelta(seconds=20)) == 1
    last = OutboxMessage.objects.filter(community_id=group.pk).order_by("-id").first()
    assert _seqs([last.payload["text"]]) == list(range(401, 406))


# --- stock notices -------------------------------------------------------------------------------------


def test_low_stock_and_sold_out_once_per_group(brand, store_a, sku, wecom, fake):
    chat = _group(store_a, channel="wecom", connector=wecom, external_id="wr-low")
    web = _group(store_a, sequence=2)
    base = timezone.now() + timedelta(seconds=2)
    clock = {"now": base}
    fake.clock = lambda: clock["now"].timestamp()
    campaign, item = _sale(brand, sku, [chat, web], starts_at=base, minutes=30, stock=30)  # left ≤ 10, ≤ 6
    members = _members(brand, store_a, 30)
    batches = [18, 3, 1, 3, 5]  # left: 12, 9, 8, 5, 0
    TICK = relay.STAFF_PACE.total_seconds() + 1  # a WeCom group gets its relay for staff once a minute
    step, used = 0, 0

    def tick(rounds: int = 1) -> None:
        nonlocal step
        for _ in range(rounds):
            clock["now"] = now = base + timedelta(seconds=TICK * step)
            relay.run_relay(now=now)
            outbox.dispatch_due(now=now)
            step += 1

    for size in batches:
        at = base + timedelta(seconds=TICK * step)
        _reserve(item, store_a, members[used : used + size], [at] * size)
        used += size
        tick(3)
    tick(5)  # more rounds after the sale sold out change nothing
    for group in (chat, web):
        texts = _texts(group)
        assert _seqs(texts) == list(range(1, 31))
        footers = [line for t in texts for line in t.splitlines() if line.startswith("Only ")]
        assert footers == ["Only 9 left!", "Only 5 left!"]
        assert RelayPost.objects.filter(campaign=campaign, community=group, kind="low_stock").count() == 2
        sold_out = RelayPost.objects.filter(campaign=campaign, community=group, kind="sold_out")
        assert sold_out.count() == 1
        assert sold_out.get().message.text == "[Sold out] 北欧陶瓷杯 is all gone. Thank you, everyone!"
        assert texts[-1] == sold_out.get().message.text  # after the last lines
    staff_texts = [
        d.content["text"] for d in GroupDelivery.objects.filter(community=chat, kind="relay").order_by("id")
    ]
    assert staff_texts == _texts(chat)  # everything for the WeCom group waits for staff, once
    assert fake.requests == [] and fake.violations == []
    campaign.refresh_from_db()
    assert campaign.sold_out_posted_at is not None


# --- the tail of an ended sale ---------------------------------------------------------------------------


def test_ended_sale_tail_is_still_posted(brand, store_a, sku, member_a, member_b):
    groups = [_group(store_a, sequence=i) for i in (1, 2, 3)]  # web pace is per group: one each
    now = timezone.now()
    # Ended 5 minutes ago; ended 2 hours ago with lines waiting; long over.
    recent, recent_item = _sale(brand, sku, groups[:1], starts_at=now - timedelta(minutes=6))
    behind, behind_item = _sale(brand, sku, groups[1:2], starts_at=now - timedelta(hours=2))
    old, old_item = _sale(brand, sku, groups[2:], starts_at=now - timedelta(days=2))
    for item in (recent_item, behind_item, old_item):
        _reserve(item, store_a, [member_a, member_b], [item.campaign.ends_at - timedelta(seconds=1)] * 2)
    assert relay.run_relay(now=now) == 2
    assert RelayPost.objects.filter(campaign=recent, kind="lines").count() == 1
    assert RelayPost.objects.filter(campaign=behind, kind="lines").count() == 1
    assert not RelayPost.objects.filter(campaign=old).exists()
    assert relay.run_relay(now=now + timedelta(seconds=5)) == 0


# --- concurrency (PostgreSQL) ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_relays_number_gap_free_and_post_each_line_once(brand, store_a, sku):
    if not is_postgres():
        pytest.skip("needs PostgreSQL (real parallel connections)")
    web = _group(store_a)
    other = _group(store_a, sequence=2)
    base = timezone.now()
    campaign, item = _sale(brand, sku, [web, other], starts_at=base - timedelta(seconds=1), stock=1000)
    members = _members(brand, store_a, 300)
    stop = threading.Event()
    errors: list[BaseException] = []

    def relay_loop(offset: int) -> None:
        try:
            k = 0
            while not stop.is_set() or k < 5:
                relay.run_relay(now=base + timedelta(seconds=4 * k + offset))
                k += 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=relay_loop, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for batch in range(10):  # purchases keep arriving while both relays run
        chunk = members[30 * batch : 30 * (batch + 1)]
        _reserve(item, store_a, chunk, [base + timedelta(milliseconds=10 * batch)] * len(chunk))
    stop.set()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for k in range(200):  # finish the tail
        relay.run_relay(now=base + timedelta(hours=1, seconds=4 * k))
        if RelayCursor.objects.filter(campaign=campaign, last_seq=300).count() == 2:
            break
    seqs = sorted(FlashReservation.objects.filter(campaign=campaign).values_list("seq", flat=True))
    assert seqs == list(range(1, 301))
    for group in (web, other):
        assert _seqs(_texts(group)) == list(range(1, 301))
        posts = RelayPost.objects.filter(community=group, kind="lines").order_by("first_seq")
        ranges = [(p.first_seq, p.last_seq) for p in posts]
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))
        assert ranges[0][0] == 1 and ranges[-1][1] == 300


@pytest.mark.django_db(transaction=True)
def test_concurrent_numbering_never_gives_a_number_twice(brand, store_a, sku):
    if not is_postgres():
        pytest.skip("needs PostgreSQL (real parallel connections)")
    base = timezone.now()
    campaign, item = _sale(brand, sku, [], starts_at=base - timedelta(seconds=1), stock=1000)
    members = _members(brand, store_a, 400)
    _reserve(item, store_a, members[:200], [base] * 200)
    barrier = threading.Barrier(4)
    counts: list[int] = []
    errors: list[BaseException] = []

    def number() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                counts.append(relay.number_reservations(campaign.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=number) for _ in range(4)]
    for t in threads:
        t.start()
    _reserve(item, store_a, members[200:], [base + timedelta(seconds=1)] * 200)
    for t in threads:
        t.join(60)
    assert not errors, errors
    relay.number_reservations(campaign.pk)
    seqs = sorted(FlashReservation.objects.filter(campaign=campaign).values_list("seq", flat=True))
    assert seqs == list(range(1, 401))
    assert sum(counts) <= 400


def test_two_wecom_groups_each_get_every_line_for_staff(brand, store_a, sku, wecom, fake):
    first = _group(store_a, channel="wecom", connector=wecom, external_id="wr-a")
    second = _group(store_a, channel="wecom", connector=wecom, external_id="wr-b", sequence=2)
    base = timezone.now().replace(microsecond=0) + timedelta(seconds=5)
    campaign, item = _sale(brand, sku, [first, second], starts_at=base, stock=1000)
    members = _members(brand, store_a, 600)
    times = [base + timedelta(milliseconds=50 * i) for i in range(600)]  # 600 orders in 30 s
    written = 0
    for step in range(0, 900, 5):
        now = base + timedelta(seconds=step)
        upto = sum(1 for t in times if t <= now)
        if upto > written:
            _reserve(item, store_a, members[written:upto], times[written:upto])
            written = upto
        relay.run_relay(now=now)
        if written == 600 and RelayCursor.objects.filter(campaign=campaign, last_seq=600).count() == 2:
            break
    assert fake.requests == [] and fake.violations == []  # no robot, no shared robot budget
    for group in (first, second):
        texts = [
            d.content["text"]
            for d in GroupDelivery.objects.filter(community=group, kind="relay").order_by("id")
        ]
        assert _seqs(texts) == list(range(1, 601))
        assert all(len(t.encode()) <= ROBOT_TEXT_MAX for t in texts)


def test_sold_out_waits_until_every_admitted_unit_is_written(
    brand, store_a, sku, member_a, member_b, monkeypatch
):
    web = _group(store_a)
    now = timezone.now()
    _campaign, item = _sale(brand, sku, [web], starts_at=now - timedelta(seconds=30), stock=2)
    # A Redis-backed sale: both units admitted, only one reservation written so far.
    monkeypatch.setattr(relay.flash_admission, "remaining_units", lambda campaign_id: {item.pk: 0})
    _reserve(item, store_a, [member_a], [now - timedelta(seconds=3)])
    assert relay.run_relay(now=now) == 1
    assert relay.run_relay(now=now + timedelta(seconds=5)) == 0  # no "sold out" before the last line
    _reserve(item, store_a, [member_b], [now - timedelta(seconds=2)])
    assert relay.run_relay(now=now + timedelta(seconds=10)) == 1  # the last line …
    assert relay.run_relay(now=now + timedelta(seconds=15)) == 1  # … then "sold out"
    assert relay.run_relay(now=now + timedelta(seconds=20)) == 0
    texts = _texts(web)
    assert _seqs(texts) == [1, 2] and texts[-1].startswith("[Sold out] 北欧陶瓷杯")


def test_units_left_fall_back_to_the_database_when_redis_is_down(brand, store_a, sku, member_a, monkeypatch):
    from siyu.campaigns.services.flash_admission import SaleUnavailable

    def unavailable(campaign_id):
        raise SaleUnavailable("down")

    web = _group(store_a)
    now = timezone.now()
    _campaign, item = _sale(brand, sku, [web], starts_at=now - timedelta(seconds=30), stock=12)
    monkeypatch.setattr(relay.flash_admission, "remaining_units", unavailable)
    _reserve(item, store_a, [member_a], [now - timedelta(seconds=3)], [3])  # 9 left: ≤ 10
    assert relay.run_relay(now=now) == 1
    assert _texts(web)[0].splitlines()[-1] == "Only 9 left!"


def test_archived_group_gets_nothing_and_others_carry_on(brand, store_a, sku, member_a):
    web = _group(store_a)
    closed = _group(store_a, sequence=2)
    Community.objects.filter(pk=closed.pk).update(status="archived")
    now = timezone.now()
    _campaign, item = _sale(brand, sku, [web, closed], starts_at=now - timedelta(seconds=30))
    _reserve(item, store_a, [member_a], [now - timedelta(seconds=3)])
    assert relay.run_relay(now=now) == 1
    assert _texts(web) and not _texts(closed)
    assert not RelayPost.objects.filter(community=closed).exists()
