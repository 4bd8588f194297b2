"""Points red packets (拼手气红包) in groups: drop, grab, and the return of what nobody grabbed.

Guarantees:

- **Exact total.** The split is drawn when the packet is dropped: ``shares`` rows, each ≥ 1 point, summing to
  ``total`` exactly (check constraints on the rows and the packet). Grabbing never computes an amount.
- **Paid up front.** A staff member's packet is paid from the brand's points budget (``PointsBudget``, one
  conditional UPDATE ``WHERE remaining >= total``, a check constraint behind it); a KOL's from their own
  points (``points.spend``). Dropping, paying, writing the shares and posting the card: one transaction.
- **One share per grab, one grab per member.** A grab claims one open share row by a conditional UPDATE
  (``… WHERE grabbed_by IS NULL AND NOT returned``; on PostgreSQL the row is picked with ``FOR UPDATE SKIP
  LOCKED``, so parallel grabbers take different rows without waiting on each other) and credits its points via
  ``points.earn`` in the same transaction. A member holds at most one share of a packet (a unique
  constraint): a second grab, even at the same instant, answers the first share.
- **Nothing lost.** After 24 hours (``EXPIRES_AFTER``) the periodic job ``red-packet-expiry`` marks the open
  shares returned (the same conditional UPDATE a grab uses, so each share has exactly one fate) and pays their
  points back to the budget or to the KOL, once (a system idempotency key).
- **Only where the post is silent.** Packets go into built-in web groups and Telegram groups; WeCom cannot
  post without the owner confirming a mass message, so a packet there is refused (``Conflict``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from siyu.channels.connectors.base import DeliveryPath
from siyu.channels.models import ChannelKind
from siyu.channels.services.outbox import get_connector
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import actor_ref, client_key, mismatch, request_hash, system_key
from siyu.common.validators import MAX_DB_ID, clean_idempotency_key, clean_int, clean_text
from siyu.communities.models import Community, CommunityMembership, GroupDelivery, MemberRole
from siyu.communities.services.robot import post_to_group
from siyu.loyalty.models import PointsBudget, RedPacket, RedPacketShare
from siyu.loyalty.services import points
from siyu.members.models import Member
from siyu.members.services.public_profile import public_name
from siyu.org.models import Staff
from siyu.org.services.access import can_access_store, check_capability, store_scope
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

EXPIRES_AFTER = timedelta(hours=24)
MAX_SHARES = 200
MAX_TOTAL = 1_000_000
EXPIRY_BATCH = 200


class PacketEmpty(Conflict):
    """Every share has been grabbed (or returned): nothing was credited."""

    code = "red_packet_empty"


@dataclass(frozen=True)
class GrabOutcome:
    share: RedPacketShare
    created: bool


# --- where packets can go ------------------------------------------------------------------------------


def can_drop_in(community: Community) -> bool:
    """Whether the group's channel posts silently by API (web, Telegram). WeCom needs the owner to confirm
    a mass message, which a red packet cannot wait for."""
    if community.channel == ChannelKind.WEB:
        return True
    if community.connector is None:
        return False
    return get_connector(community.connector).can_deliver(DeliveryPath.AUTO)


def split(total: int, shares: int, *, rng: secrets.SystemRandom | None = None) -> list[int]:
    """``shares`` random whole amounts, each ≥ 1, summing to ``total`` (cut points drawn without repeats)."""
    if shares < 1 or total < shares:
        raise ValueError("need total >= shares >= 1")
    rng = rng or secrets.SystemRandom()
    cuts = sorted(rng.sample(range(1, total), shares - 1)) if shares > 1 else []
    bounds = [0, *cuts, total]
    return [bounds[i + 1] - bounds[i] for i in range(shares)]


# --- budget --------------------------------------------------------------------------------------------


def budget_of(brand_id: int) -> int:
    row = PointsBudget.objects.filter(brand_id=brand_id).values_list("remaining", flat=True).first()
    return int(row or 0)


def set_budget(staff: Staff, remaining: Any) -> PointsBudget:
    """HQ sets the points the brand may still give away in staff red packets (capability ``loyalty.manage``).
    Audited."""
    check_capability(staff, "loyalty.manage")
    value = clean_int(remaining, "remaining", 0, 1_000_000_000, from_text=True)
    budget, _created = PointsBudget.objects.update_or_create(
        brand_id=current_brand_id(staff), defaults={"remaining": value}
    )
    record_audit(
        staff,
        "loyalty.budget",
        target_type="brand",
        target_id=current_brand_id(staff),
        detail={"remaining": value},
    )
    return budget


def _take_budget(brand_id: int, amount: int) -> None:
    PointsBudget.objects.get_or_create(brand_id=brand_id)
    if not PointsBudget.objects.filter(brand_id=brand_id, remaining__gte=amount).update(
        remaining=F("remaining") - amount
    ):
        raise Conflict(
            _("The red-packet budget has %(have)s points left; this packet needs %(need)s.")
            % {"have": budget_of(brand_id), "need": amount},
            field="total",
        )


# --- dropping ------------------------------------------------------------------------------------------


def _clean_packet(total: Any, shares: Any, greeting: Any) -> tuple[int, int, str]:
    n = clean_int(
        total, "total", 1, MAX_TOTAL, _("Points must be a whole number from 1 to 1,000,000."), from_text=True
    )
    k = clean_int(
        shares, "shares", 1, MAX_SHARES, _("Shares must be a whole number from 1 to 200."), from_text=True
    )
    if k > n:
        raise ValidationFailed(
            _("Each share needs at least one point: give more points or fewer shares."), field="shares"
        )
    text = clean_text(greeting, "greeting", 60, required=False) or ""
    return n, k, text


def _grab_url(packet: RedPacket) -> str:
    return reverse("h5:red_packet", args=[packet.pk])


def _create(
    community: Community,
    *,
    total: int,
    shares: int,
    greeting: str,
    key: str,
    rhash: str,
    staff: Staff | None,
    member: Member | None,
    now: datetime,
) -> tuple[RedPacket, bool]:
    """The packet and whether this call dropped it (False: the key's earlier packet)."""
    existing = RedPacket.objects.filter(idempotency_key=key).first()
    if existing is not None:
        if existing.request_hash != rhash:
            raise mismatch()
        return existing, False
    if community.status != Community.Status.OPEN:
        raise Conflict(_("This group is not open."), field="community")
    if not can_drop_in(community):
        raise Conflict(
            _(
                "Red packets can only be dropped in web and Telegram groups: WeCom cannot post into a group "
                "without the owner confirming a mass message."
            ),
            field="community",
        )
    with transaction.atomic():
        try:
            with transaction.atomic():
                packet = RedPacket.objects.create(
                    brand_id=community.brand_id,
                    community=community,
                    store_id=community.store_id,
                    staff=staff,
                    member=member,
                    total=total,
                    shares=shares,
                    greeting=greeting,
                    idempotency_key=key,
                    request_hash=rhash,
                    created_at=now,
                    expires_at=now + EXPIRES_AFTER,
                )
        except IntegrityError:
            return RedPacket.objects.get(idempotency_key=key), False
        if member is not None:
            points.spend(
                member,
                total,
                key=system_key("redpack", packet.pk, "drop"),
                reason=_("Red packet dropped in %(group)s") % {"group": community.name},
                source=("redpack", str(packet.pk)),
                now=now,
            )
        else:
            _take_budget(community.brand_id, total)
        RedPacketShare.objects.bulk_create(
            [
                RedPacketShare(packet=packet, position=i + 1, points=amount)
                for i, amount in enumerate(split(total, shares))
            ]
        )
        # The robot speaks the brand's language, whoever dropped the packet in whichever UI language.
        with translation.override(settings.LANGUAGE_CODE):
            who = public_name(member) if member is not None else community.store.name
            card = {
                "title": greeting or _("%(who)s dropped a points red packet") % {"who": who},
                "description": _(
                    "%(total)s points in %(shares)s shares: first come, first served. Tap to grab!"
                )
                % {"total": total, "shares": shares},
                "url": _grab_url(packet),
                "button": _("Grab"),
            }
        message = post_to_group(
            community,
            card=card,
            idempotency_key=f"redpack:{packet.pk}",
            delivery_kind=GroupDelivery.Kind.OTHER,
            can_wait=False,
        )
        RedPacket.objects.filter(pk=packet.pk).update(message_id=message.pk)
        packet.message_id = message.pk
    return packet, True


def drop_by_staff(
    staff: Staff,
    community_id: Any,
    *,
    total: Any,
    shares: Any,
    greeting: Any = "",
    key: Any,
    now: datetime | None = None,
) -> RedPacket:
    """A staff member drops a red packet paid from the brand's budget (capability ``loyalty.redpack``, a
    group of a store they serve — NotFound otherwise). The key is scoped to the staff member. Audited."""
    check_capability(staff, "loyalty.redpack")
    cid = clean_int(community_id, "community", 1, MAX_DB_ID, from_text=True)
    community = (
        Community.objects.filter(pk=cid, brand_id=current_brand_id(staff)).select_related("connector").first()
    )
    if community is None or not can_access_store(staff, community.store_id):
        raise NotFound(_("No such group."), field="community")
    n, k, text = _clean_packet(total, shares, greeting)
    stored = client_key(
        actor_ref("staff", staff.pk), "redpack.drop", community.pk, clean_idempotency_key(key)
    )
    rhash = request_hash("redpack", community.pk, n, k, text)
    with transaction.atomic():
        packet, created = _create(
            community,
            total=n,
            shares=k,
            greeting=text,
            key=stored,
            rhash=rhash,
            staff=staff,
            member=None,
            now=now or timezone.now(),
        )
        if not created:
            return packet
        record_audit(
            staff,
            "loyalty.redpack",
            target_type="community",
            target_id=community.pk,
            detail={"packet_id": packet.pk, "total": n, "shares": k},
        )
    return packet


def is_kol(member: Member, community: Community) -> bool:
    return CommunityMembership.objects.filter(
        community=community, member=member, status=CommunityMembership.Status.ACTIVE, role=MemberRole.KOL
    ).exists()


def kol_group(member: Member, community_id: Any) -> Community:
    """The group, if ``member`` is one of its KOLs and a packet can go there (NotFound otherwise)."""
    cid = clean_int(community_id, "community", 1, MAX_DB_ID, from_text=True)
    community = Community.objects.filter(pk=cid, brand_id=member.brand_id).select_related("connector").first()
    if community is None or not is_kol(member, community) or not can_drop_in(community):
        raise NotFound(_("No such group."), field="community")
    return community


def drop_by_kol(
    member: Member,
    community_id: Any,
    *,
    total: Any,
    shares: Any,
    greeting: Any = "",
    key: Any,
    now: datetime | None = None,
) -> RedPacket:
    """A KOL of the group (its membership's role) drops a red packet paid from their own points
    (``InsufficientPoints`` when they have too few, nothing written). Others: NotFound."""
    cid = clean_int(community_id, "community", 1, MAX_DB_ID, from_text=True)
    community = Community.objects.filter(pk=cid, brand_id=member.brand_id).select_related("connector").first()
    if community is None or not is_kol(member, community):
        raise NotFound(_("No such group."), field="community")
    n, k, text = _clean_packet(total, shares, greeting)
    stored = client_key(
        actor_ref("member", member.pk), "redpack.drop", community.pk, clean_idempotency_key(key)
    )
    rhash = request_hash("redpack", community.pk, n, k, text)
    return _create(
        community,
        total=n,
        shares=k,
        greeting=text,
        key=stored,
        rhash=rhash,
        staff=None,
        member=member,
        now=now or timezone.now(),
    )[0]


# --- grabbing ------------------------------------------------------------------------------------------


def get_packet_for_member(member: Member, packet_id: Any) -> RedPacket:
    """The packet, if it was dropped in a group the member is in (others: NotFound)."""
    pid = clean_int(packet_id, "packet", 1, MAX_DB_ID, from_text=True)
    packet = (
        RedPacket.objects.select_related("community", "store")
        .filter(pk=pid, brand_id=member.brand_id)
        .first()
    )
    if (
        packet is None
        or not CommunityMembership.objects.filter(
            community_id=packet.community_id, member=member, status=CommunityMembership.Status.ACTIVE
        ).exists()
    ):
        raise NotFound(_("No such red packet."), field="packet")
    return packet


def _claim(packet: RedPacket, member: Member, now: datetime) -> RedPacketShare | None:
    """Claim one open share for ``member`` (inside the caller's transaction); None when none is left."""
    open_shares = RedPacketShare.objects.filter(packet=packet, grabbed_by__isnull=True, returned=False)
    for _attempt in range(20):
        picker = open_shares.order_by("position")
        if connection.features.has_select_for_update_skip_locked:
            picker = picker.select_for_update(skip_locked=True)
        share_id = picker.values_list("pk", flat=True).first()
        if share_id is None:
            return None
        if RedPacketShare.objects.filter(pk=share_id, grabbed_by__isnull=True, returned=False).update(
            grabbed_by=member, grabbed_at=now
        ):
            return RedPacketShare.objects.get(pk=share_id)
    raise Conflict(_("Many people are grabbing at once; try again."), field="packet")  # pragma: no cover


def grab(member: Member, packet_id: Any, *, now: datetime | None = None) -> GrabOutcome:
    """``member`` grabs a share of the packet: the share's points are credited at once. The member's earlier
    share (``created`` False) when they already grabbed one; ``PacketEmpty`` when none is left; Conflict when
    the packet has expired."""
    now = now or timezone.now()
    packet = get_packet_for_member(member, packet_id)
    mine = RedPacketShare.objects.filter(packet=packet, grabbed_by=member).first()
    if mine is not None:
        return GrabOutcome(mine, False)
    if packet.status != RedPacket.Status.OPEN or packet.expires_at <= now:
        raise Conflict(_("This red packet has expired."), field="packet")
    try:
        with transaction.atomic():
            share = _claim(packet, member, now)
            if share is None:
                raise PacketEmpty(_("Too late: every share has been grabbed."), field="packet")
            entry = points.earn(
                member,
                share.points,
                key=system_key("redpack", packet.pk, "grab", member.pk),
                reason=_("Red packet in %(group)s") % {"group": packet.community.name},
                source=("redpack", str(packet.pk)),
                now=now,
            )
            RedPacketShare.objects.filter(pk=share.pk).update(entry=entry)
            share.entry = entry
    except IntegrityError:
        # The same member grabbing at the same instant elsewhere: the unique constraint kept one.
        mine = RedPacketShare.objects.filter(packet=packet, grabbed_by=member).first()
        if mine is None:
            raise
        return GrabOutcome(mine, False)
    return GrabOutcome(share, True)


# --- expiry --------------------------------------------------------------------------------------------


def return_expired(*, now: datetime | None = None, batch: int = EXPIRY_BATCH) -> int:
    """Close packets past their 24 hours: open shares are marked returned and their points go back to the
    brand's budget or the KOL who paid, once. Safe to run concurrently with grabs and with itself. Returns how
    many packets were closed."""
    now = now or timezone.now()
    closed = 0
    due = list(
        RedPacket.objects.filter(status=RedPacket.Status.OPEN, expires_at__lte=now).order_by("id")[:batch]
    )
    for packet in due:
        with transaction.atomic():
            if not RedPacket.objects.filter(pk=packet.pk, status=RedPacket.Status.OPEN).update(
                status=RedPacket.Status.EXPIRED, closed_at=now
            ):
                continue
            open_ids = list(
                RedPacketShare.objects.filter(
                    packet=packet, grabbed_by__isnull=True, returned=False
                ).values_list("pk", flat=True)
            )
            RedPacketShare.objects.filter(pk__in=open_ids, grabbed_by__isnull=True, returned=False).update(
                returned=True
            )
            back = int(
                RedPacketShare.objects.filter(packet=packet, returned=True).aggregate(
                    n=Coalesce(Sum("points"), 0)
                )["n"]
            )
            RedPacket.objects.filter(pk=packet.pk).update(returned=back)
            if back:
                if packet.member_id is not None:
                    points.earn(
                        Member.objects.get(pk=packet.member_id),
                        back,
                        key=system_key("redpack", packet.pk, "return"),
                        reason=_("Red packet not fully grabbed: points returned"),
                        source=("redpack-return", str(packet.pk)),
                        now=now,
                    )
                else:
                    PointsBudget.objects.get_or_create(brand_id=packet.brand_id)
                    PointsBudget.objects.filter(brand_id=packet.brand_id).update(
                        remaining=F("remaining") + back
                    )
            closed += 1
    return closed


# --- reading -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PacketSummary:
    packet: RedPacket
    grabbed: int
    grabbed_points: int
    left: int

    @property
    def finished(self) -> bool:
        return self.left == 0


def summary(packet: RedPacket) -> PacketSummary:
    agg = RedPacketShare.objects.filter(packet=packet, grabbed_by__isnull=False).aggregate(
        n=Count("pk"), pts=Coalesce(Sum("points"), 0)
    )
    grabbed = int(agg["n"])
    return PacketSummary(
        packet,
        grabbed,
        int(agg["pts"]),
        packet.shares - grabbed if packet.status == RedPacket.Status.OPEN else 0,
    )


def grabs(packet: RedPacket) -> QuerySet[RedPacketShare]:
    return (
        RedPacketShare.objects.filter(packet=packet, grabbed_by__isnull=False)
        .select_related("grabbed_by")
        .order_by("grabbed_at", "id")
    )


def list_packets(staff: Staff, *, community_id: int | None = None) -> QuerySet[RedPacket]:
    """Packets in the groups of the stores the staff member serves (HQ: all), newest first."""
    qs = RedPacket.objects.filter(brand_id=current_brand_id(staff)).select_related(
        "community", "store", "staff", "member"
    )
    scope = store_scope(staff)
    if scope is not None:
        qs = qs.filter(store_id__in=scope)
    if community_id is not None:
        qs = qs.filter(community_id=community_id)
    return qs.order_by("-id")


def get_packet(staff: Staff, packet_id: Any) -> RedPacket:
    pid = clean_int(packet_id, "packet", 1, MAX_DB_ID, from_text=True)
    packet = list_packets(staff).filter(pk=pid).first()
    if packet is None:
        raise NotFound(_("No such red packet."), field="packet")
    return packet
