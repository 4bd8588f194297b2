"""The 接龙 relay of a flash sale: numbered lines for every purchase, posted into the sale's groups.

While a flash sale runs (and for a while after it ends) the robot posts into each of the sale's groups
(``Campaign.communities``) lines like ``12. 王** 抢到 2 件 北欧陶瓷杯``, several to a message, plus an
"only N left" footer when stock gets low and one "sold out" post per item.

Guarantees:
- numbering: every reservation of a sale gets ``seq`` 1, 2, 3… in admission order (``admitted_at``, id),
  under a per-campaign row lock, so numbers are unique and gap-free (the unique (campaign, seq)
  constraint backs this up) and never change — released reservations keep theirs;
- no line is left out or posted twice: a group's ``RelayCursor.last_seq`` says every line up to it is
  posted; lines are posted in seq order starting right after the cursor, and the cursor advances in the
  same transaction as the posts (locked row plus a conditional UPDATE on ``last_seq``);
- rate limits are respected: a Telegram group gets a new relay message only when its previous one
  has left the outbox, at most one per ``pace`` (the channel's window / count: 3 s for 20 per minute), and
  only as many as the outbox bucket's remaining budget allows — lines wait (and pack into fuller messages)
  meanwhile; the outbox itself never sends more than the limit either. Web groups: one post per 3 s;
- WeCom customer groups have no robot: their relay messages wait for staff (sidebar), a few full ones a
  minute (``STAFF_PACE``, ``STAFF_PER_ROUND``);
- every message fits the channel's size limit (WeCom: 2048 bytes UTF-8; Telegram: 4096
  UTF-16 units; Siyu's robot posts: ``MAX_ROBOT_TEXT`` characters), so the connector never truncates one;
- names are masked (surname + ``**``, else the masked mobile number): no full name or number is posted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from siyu.campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    FlashReservation,
    FlashSaleItem,
    RelayCursor,
    RelayPost,
)
from siyu.campaigns.services import flash_admission
from siyu.channels.connectors.base import RateLimit
from siyu.channels.connectors.telegram import TEXT_MAX as TELEGRAM_TEXT_MAX
from siyu.channels.connectors.wecom import ROBOT_TEXT_MAX as WECOM_STAFF_TEXT_MAX
from siyu.channels.models import ChannelKind, OutboxMessage
from siyu.channels.services import outbox
from siyu.common.errors import ServiceError
from siyu.communities.models import Community, GroupDelivery
from siyu.communities.services.robot import MAX_ROBOT_TEXT, channel_bucket, post_to_group
from siyu.members.models import Member
from siyu.members.services.public_profile import public_name

logger = logging.getLogger("siyu.campaigns.relay")

TAIL = timedelta(minutes=10)  # an ended sale's groups still get its remaining lines for this long …
BACKLOG_TAIL = timedelta(hours=24)  # … and longer, up to this, while some group still has lines waiting
WEB_PACE = timedelta(seconds=3)  # web groups: at most one relay post per 3 s
STAFF_PACE = timedelta(seconds=60)  # WeCom groups: relay messages for the staff sidebar, once a minute …
STAFF_PER_ROUND = 5  # … at most this many at a time
DEFAULT_RATE = RateLimit(20, 60.0)  # a channel bucket without a declared limit is treated like a robot
LOW_STOCK_SHARE = 0.2  # "only N left" when the units left first drop to ≤ 20 % of the stock …
LOW_STOCK_UNITS = 10  # … and again at ≤ 10 units
ITEM_LABEL_MAX = 30  # characters of the product name in a line
NUMBER_BATCH = 5000  # reservations numbered per campaign per round
LINES_PER_MESSAGE_MAX = 300  # a line is ≥ 16 characters, so no message holds more (used to size fetches)
RECENT_POSTS_CHECKED = 40  # relay posts of a group looked at for one still waiting in the outbox


class _CursorMoved(Exception):
    """Another relay advanced the cursor meanwhile: undo this group's round."""


@dataclass(frozen=True)
class _Channel:
    """How relay messages reach one group: their size measure and limit, pace and rate-limit bucket."""

    measure: Callable[[str], int]
    max_size: int
    pace: timedelta
    bucket: str = ""  # outbox bucket; empty for web groups (the web chat is the channel) and WeCom groups
    rate: RateLimit | None = None
    per_round: int = 1  # messages a group may get per round without a rate limit


@dataclass
class _Sale:
    """One round's view of a campaign: lines numbered so far and units left."""

    campaign: Campaign
    max_seq: int
    stock: int
    remaining: int
    labels: dict[int, str] = field(default_factory=dict)
    sold_out_items: list[int] = field(default_factory=list)


def _utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --- public services ---------------------------------------------------------------------------------


def run_relay(now: datetime | None = None) -> int:
    """Periodic job (every 2 s): number new reservations and post relay lines, low-stock and sold-out
    notices into the groups of every published flash sale with the relay on that runs, ended less than
    ``TAIL`` ago, or ended less than ``BACKLOG_TAIL`` ago with lines still waiting. Returns the number of
    robot messages posted.

    Safe to run concurrently and repeatedly: numbering is serialised per campaign, posting per
    (campaign, group); a re-run with nothing new posts nothing. ``now`` simulates the clock (tests).
    """
    now = now or timezone.now()
    posts = 0
    for campaign in _campaigns_due(now):
        posts += relay_campaign(campaign, now=now)
    return posts


def relay_campaign(campaign: Campaign, *, now: datetime | None = None) -> int:
    """One relay round for one campaign (see ``run_relay``): number, then post into each group whose
    channel has room. A group that refuses posts (archived meanwhile) is logged and skipped; its lines
    wait. Returns the number of robot messages posted."""
    now = now or timezone.now()
    # Items (and their written units) are read before numbering: every reservation counted in ``sold``
    # then has its number by the time a group is told an item sold out.
    items = list(
        FlashSaleItem.objects.filter(campaign=campaign)
        .order_by("position", "id")
        .values_list("pk", "stock", "sold", "sku__product__name", "sku__spec")
    )
    number_reservations(campaign.pk)
    sale = _sale(campaign, items)
    communities = list(
        campaign.communities.exclude(status=Community.Status.ARCHIVED).select_related("connector")
    )
    if not communities:
        return 0
    cursors = {
        c.community_id: c for c in RelayCursor.objects.filter(campaign=campaign, community__in=communities)
    }
    for community in communities:
        if community.pk not in cursors:
            cursors[community.pk], _created = RelayCursor.objects.get_or_create(
                campaign=campaign, community=community
            )
    # Fairness on a shared robot: the group served longest ago goes first.
    communities.sort(key=lambda c: (cursors[c.pk].updated_at, c.pk))
    posts = 0
    with translation.override(settings.LANGUAGE_CODE):
        for community in communities:
            try:
                posts += _relay_group(sale, community, cursors[community.pk], now)
            except _CursorMoved:
                continue
            except ServiceError as exc:
                logger.warning(
                    "Relay of campaign %s not posted in group %s: %s", campaign.pk, community.pk, exc.message
                )
    return posts


def number_reservations(campaign_id: int) -> int:
    """Give the campaign's unnumbered reservations the next relay numbers, in admission order
    (``admitted_at``, id). Returns how many were numbered.

    Guarantees: numbers are unique and gap-free per campaign (the campaign row is locked while numbering;
    the unique (campaign, seq) constraint backs it up) and a number, once given, never changes —
    released reservations keep theirs (the relay is a log of who bought).
    """
    if not FlashReservation.objects.filter(campaign_id=campaign_id, seq__isnull=True).exists():
        return 0
    with transaction.atomic():
        # NO KEY UPDATE: serialises numberers without blocking posts that reference the campaign row.
        if Campaign.objects.select_for_update(no_key=True).filter(pk=campaign_id).first() is None:
            return 0
        top = FlashReservation.objects.filter(campaign_id=campaign_id).aggregate(top=Max("seq"))["top"] or 0
        todo = list(
            FlashReservation.objects.filter(campaign_id=campaign_id, seq__isnull=True)
            .order_by("admitted_at", "id")
            .only("id")[:NUMBER_BATCH]
        )
        for offset, reservation in enumerate(todo, start=1):
            reservation.seq = top + offset
        FlashReservation.objects.bulk_update(todo, ["seq"], batch_size=500)
    return len(todo)


def masked_name(member: Member | None) -> str:
    """How a buyer appears in the relay: the members' one rule (``public_name``) — the nickname, else the
    surname + ``**`` (王小明 → 王**), else the masked mobile number (138****1234), else "Member". Never the
    full name or number."""
    return public_name(member)


def relay_line(seq: int, name: str, quantity: int, item: str) -> str:
    """One relay line in the active language, e.g. ``12. 王** got 2 × 北欧陶瓷杯``."""
    # Translators: one line of the flash-sale relay (接龙), e.g. "12. 王** 抢到 2 件 北欧陶瓷杯".
    return _("%(seq)s. %(name)s got %(quantity)s × %(item)s") % {
        "seq": seq,
        "name": name,
        "quantity": quantity,
        "item": item,
    }


# --- campaigns and their state -------------------------------------------------------------------------


def _campaigns_due(now: datetime) -> list[Campaign]:
    base = Campaign.objects.filter(
        kind=CampaignKind.FLASH_SALE,
        status=CampaignStatus.PUBLISHED,
        relay_enabled=True,
        starts_at__lte=now,
    )
    due = list(base.filter(ends_at__gt=now - TAIL).order_by("starts_at", "id"))
    for campaign in base.filter(ends_at__gt=now - BACKLOG_TAIL, ends_at__lte=now - TAIL).order_by("id"):
        if _has_backlog(campaign):
            due.append(campaign)
    return due


def _has_backlog(campaign: Campaign) -> bool:
    """Whether an ended sale still has lines to number or to post in one of its groups."""
    if FlashReservation.objects.filter(campaign=campaign, seq__isnull=True).exists():
        return True
    top = FlashReservation.objects.filter(campaign=campaign).aggregate(top=Max("seq"))["top"] or 0
    if not top:
        return False
    groups = campaign.communities.exclude(status=Community.Status.ARCHIVED)
    behind = RelayCursor.objects.filter(campaign=campaign, community__in=groups, last_seq__lt=top).exists()
    return (
        behind
        or groups.exclude(
            pk__in=RelayCursor.objects.filter(campaign=campaign).values("community_id")
        ).exists()
    )


def _item_label(name: str, spec: str) -> str:
    label = f"{name} {spec}".strip()
    return label if len(label) <= ITEM_LABEL_MAX else label[: ITEM_LABEL_MAX - 1] + "…"


def _remaining_by_item(campaign: Campaign, items: list[tuple[int, int, int]]) -> dict[int, int]:
    """Units left per item: from the admission service (which reads the Redis counters of a Redis-backed
    sale), else — Redis unreachable, or an item it does not know — ``stock - sold`` from the database."""
    from_db = {pk: max(0, stock - sold) for pk, stock, sold in items}
    try:
        left = flash_admission.remaining_units(campaign.pk)
    except ServiceError as exc:
        logger.warning("Units left of campaign %s unavailable (%s); using the database", campaign.pk, exc)
        return from_db
    return {pk: max(0, int(left.get(pk, from_db[pk]))) for pk in from_db}


def _sale(campaign: Campaign, rows: list[tuple[int, int, int, str, str]]) -> _Sale:
    items = [(pk, stock, sold) for pk, stock, sold, _name, _spec in rows]
    left = _remaining_by_item(campaign, items)
    top = FlashReservation.objects.filter(campaign=campaign).aggregate(top=Max("seq"))["top"] or 0
    return _Sale(
        campaign=campaign,
        max_seq=top,
        stock=sum(stock for _pk, stock, _sold in items),
        remaining=sum(left.values()),
        labels={pk: _item_label(name, spec) for pk, _stock, _sold, name, spec in rows},
        # Sold out: no unit left to admit, and every admitted unit written (and so numbered) — on Redis the
        # counters run ahead of the written reservations, and the notice must come after the last lines.
        sold_out_items=[pk for pk, stock, sold in items if left[pk] == 0 and sold >= stock],
    )


# --- one group ---------------------------------------------------------------------------------------


def _channel_for(community: Community) -> _Channel | None:
    """The relay's view of a group's channel; None while a WeCom/Telegram group has no chat to post to."""
    connector = community.connector
    if community.channel == ChannelKind.WEB:
        return _Channel(measure=len, max_size=MAX_ROBOT_TEXT, pace=WEB_PACE)
    if connector is None or not community.external_id:
        return None
    if connector.kind == ChannelKind.WECOM:
        # No robot in a customer group: relay lines wait for a staff member's sidebar (ADR 0012), so they
        # come in a few full messages a minute rather than a line every 3 s.
        return _Channel(
            _utf8_bytes, min(WECOM_STAFF_TEXT_MAX, MAX_ROBOT_TEXT), STAFF_PACE, per_round=STAFF_PER_ROUND
        )
    payload = {"chat_id": community.external_id}
    bucket = outbox.bucket_for(connector, "post", payload, channel_bucket(community))[:128]
    impl = outbox.get_connector(connector)
    prefix = bucket.split(":", 1)[0]
    custom = getattr(impl, "rate_limit_for", None)
    rate = custom(prefix) if callable(custom) else impl.rate_limits.get(prefix)
    rate = rate or DEFAULT_RATE
    pace = timedelta(seconds=rate.seconds / max(1, rate.count))
    if connector.kind == ChannelKind.TELEGRAM:
        return _Channel(_utf16_units, min(TELEGRAM_TEXT_MAX, MAX_ROBOT_TEXT), pace, bucket, rate)
    return _Channel(len, MAX_ROBOT_TEXT, pace, bucket, rate)


def _waiting_in_outbox(campaign: Campaign, community: Community) -> bool:
    """Whether one of the group's relay messages is still in the outbox (not yet accepted by the channel).

    ``post_to_group`` dispatches a group post as a ``GroupDelivery`` whose ``outbox_id`` is the queued call.
    """
    message_ids = list(
        RelayPost.objects.filter(campaign=campaign, community=community, message__isnull=False)
        .order_by("-id")
        .values_list("message_id", flat=True)[:RECENT_POSTS_CHECKED]
    )
    outbox_ids = [
        pk
        for pk in GroupDelivery.objects.filter(
            message_id__in=message_ids, outbox_id__isnull=False, status=GroupDelivery.Status.PENDING
        ).values_list("outbox_id", flat=True)
        if pk is not None
    ]
    return (
        bool(outbox_ids)
        and OutboxMessage.objects.filter(pk__in=outbox_ids, status=OutboxMessage.Status.PENDING).exists()
    )


def _budget(channel: _Channel, community: Community, now: datetime) -> int:
    """How many relay messages the group may get now: 0 within ``pace`` of its last relay post; else, for
    channel groups, what is left of the bucket's window (messages sent in it or waiting to go count)."""
    last = (
        RelayPost.objects.filter(community=community, kind=RelayPost.Kind.LINES)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last is not None and now - last < channel.pace:
        return 0
    if channel.rate is None:
        return channel.per_round
    window = timedelta(seconds=channel.rate.seconds)
    since = now - window
    # Sent in the window, or waiting to go within the next one (a row retried hours later competes not).
    used = (
        OutboxMessage.objects.filter(bucket=channel.bucket)
        .filter(
            Q(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now + window)
            | Q(sent_at__gt=since, sent_at__lte=now)
        )
        .count()
    )
    return channel.rate.count - used


def _starving(sale: _Sale, cursor: RelayCursor, channel: _Channel, now: datetime) -> bool:
    """Whether the group's oldest waiting line has waited a whole rate window: then one message is queued
    even on a full bucket (the outbox sends it when the window frees), so others' posts on a shared robot
    cannot hold the relay back for ever."""
    if channel.rate is None:
        return False
    oldest = (
        FlashReservation.objects.filter(campaign=sale.campaign, seq=cursor.last_seq + 1)
        .values_list("admitted_at", flat=True)
        .first()
    )
    return oldest is not None and now - oldest >= timedelta(seconds=channel.rate.seconds)


def _relay_group(sale: _Sale, community: Community, cursor: RelayCursor, now: datetime) -> int:
    channel = _channel_for(community)
    if channel is None:
        return 0
    has_lines = cursor.last_seq < sale.max_seq
    sold_out_due = bool(sale.sold_out_items) and not (
        sale.remaining == 0 and cursor.last_remaining_posted == 0
    )
    if not has_lines and not sold_out_due:
        return 0
    with transaction.atomic():
        locked = RelayCursor.objects.select_for_update().get(pk=cursor.pk)
        if channel.rate is not None and _waiting_in_outbox(sale.campaign, community):
            return 0  # lines accumulate until the previous message left
        if locked.last_seq < sale.max_seq:
            budget = _budget(channel, community, now)
            if budget <= 0 and not _starving(sale, locked, channel, now):
                return 0
            return _post_lines(sale, community, locked, channel, max(1, budget), now)
        return _post_sold_out(sale, community, locked, now)


def _low_stock_footer(sale: _Sale, cursor: RelayCursor) -> str:
    """The footer "Only N left!" when the units left crossed a threshold (≤ 20 % of the stock, ≤ 10 units)
    the group has not been told about yet; else empty."""
    if sale.remaining <= 0:
        return ""
    thresholds = {int(sale.stock * LOW_STOCK_SHARE), LOW_STOCK_UNITS}
    crossed = [t for t in thresholds if 0 < t < sale.stock and sale.remaining <= t]
    if not crossed:
        return ""
    level = min(crossed)
    last = cursor.last_remaining_posted
    if last is not None and last <= level:
        return ""
    # Translators: footer of a relay message, e.g. "仅剩 8 件！".
    return _("Only %(count)s left!") % {"count": sale.remaining}


def _pack(
    header: str, lines: list[tuple[int, str]], footer: str, channel: _Channel, max_messages: int
) -> list[list[tuple[int, str]]]:
    """Lines split into consecutive messages (header, lines, room for the footer) within the channel's
    size limit; at most ``max_messages``."""
    sep = channel.measure("\n")
    base = channel.measure(header) + (sep + channel.measure(footer) if footer else 0)
    chunks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    size = base
    for seq, text in lines:
        add = sep + channel.measure(text)
        if current and size + add > channel.max_size:
            chunks.append(current)
            if len(chunks) >= max_messages:
                return chunks
            current, size = [], base
        current.append((seq, text))
        size += add
    if current:
        chunks.append(current)
    return chunks


def _post_lines(
    sale: _Sale, community: Community, cursor: RelayCursor, channel: _Channel, budget: int, now: datetime
) -> int:
    campaign = sale.campaign
    rows = (
        FlashReservation.objects.filter(campaign=campaign, seq__gt=cursor.last_seq, seq__lte=sale.max_seq)
        .select_related("member")
        .order_by("seq")[: budget * LINES_PER_MESSAGE_MAX]
    )
    lines = [
        (
            r.seq or 0,
            relay_line(r.seq or 0, masked_name(r.member), r.quantity, sale.labels.get(r.item_id, "")),
        )
        for r in rows
    ]
    if not lines:
        return 0
    # Translators: first line of a relay message, e.g. "【秒杀接龙】北欧陶瓷杯限时秒杀".
    header = _("[Flash sale relay] %(title)s") % {"title": campaign.title}
    footer = _low_stock_footer(sale, cursor)
    chunks = _pack(header, lines, footer, channel, budget)
    created: list[RelayPost] = []
    for index, chunk in enumerate(chunks):
        first, last = chunk[0][0], chunk[-1][0]
        parts = [header, *(text for _seq, text in chunk)]
        with_footer = bool(footer) and index == len(chunks) - 1
        if with_footer:
            parts.append(footer)
        message = post_to_group(
            community,
            text="\n".join(parts),
            idempotency_key=f"relay:{campaign.pk}:{community.pk}:{first}-{last}",
            delivery_kind=GroupDelivery.Kind.RELAY,
            can_wait=False,
        )
        created.append(
            RelayPost.objects.create(
                campaign=campaign, community=community, first_seq=first, last_seq=last, message=message
            )
        )
        if with_footer:
            # Logged on its own (for the live view) but sent inside the lines message above.
            created.append(
                RelayPost.objects.create(
                    campaign=campaign, community=community, kind=RelayPost.Kind.LOW_STOCK, last_seq=last
                )
            )
    # The log's time is the relay's clock (pacing reads it back).
    RelayPost.objects.filter(pk__in=[p.pk for p in created]).update(created_at=now)
    changes: dict[str, object] = {"last_seq": chunks[-1][-1][0], "updated_at": now}
    if footer:
        changes["last_remaining_posted"] = sale.remaining
    moved = RelayCursor.objects.filter(pk=cursor.pk, last_seq=cursor.last_seq).update(**changes)
    if moved != 1:
        raise _CursorMoved
    return len(chunks)


def _post_sold_out(sale: _Sale, community: Community, cursor: RelayCursor, now: datetime) -> int:
    """One "sold out" post per sold-out item in the group (idempotent per item), once its lines are out."""
    campaign = sale.campaign
    posts = 0
    for item_id in sale.sold_out_items:
        # Translators: posted once per group when an item is sold out,
        # e.g. "【已抢光】北欧陶瓷杯 已抢光，感谢大家！".
        text = _("[Sold out] %(item)s is all gone. Thank you, everyone!") % {"item": sale.labels[item_id]}
        message = post_to_group(
            community,
            text=text,
            idempotency_key=f"relay:{campaign.pk}:{community.pk}:sold-out:{item_id}",
            delivery_kind=GroupDelivery.Kind.RELAY,
            can_wait=False,
        )
        if RelayPost.objects.filter(message=message).exists():
            continue  # posted in an earlier round
        post = RelayPost.objects.create(
            campaign=campaign,
            community=community,
            kind=RelayPost.Kind.SOLD_OUT,
            last_seq=cursor.last_seq or None,
            message=message,
        )
        RelayPost.objects.filter(pk=post.pk).update(created_at=now)
        posts += 1
    if sale.remaining == 0:
        moved = RelayCursor.objects.filter(pk=cursor.pk, last_seq=cursor.last_seq).update(
            last_remaining_posted=0, updated_at=now
        )
        if moved != 1:
            raise _CursorMoved
        if posts:
            Campaign.objects.filter(pk=campaign.pk, sold_out_posted_at__isnull=True).update(
                sold_out_posted_at=now
            )
    return posts
