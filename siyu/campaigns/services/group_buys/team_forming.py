"""Opening, joining and sharing teams; a place counts when its order is paid (the ``paid`` order hook)
and the team forms once enough places count before its deadline.

See ``siyu.campaigns.services.group_buys`` for the rules of group buys."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.campaigns.models import (
    Campaign,
    GroupBuy,
    GroupBuyMember,
    GroupBuyTeam,
)
from siyu.campaigns.services.group_buys.posts import post_formed, post_joined, post_opened
from siyu.campaigns.services.group_buys.reads import (
    live_membership,
    membership_in,
    offer_for_member,
    team_for_member,
)
from siyu.campaigns.services.group_buys.rules import (
    JOINABLE,
    LIVE,
    MIN_PICKUP_AFTER_DEADLINE,
    M,
    T,
    is_running,
    listing_for,
    runs_in_store,
    still_needed,
)
from siyu.campaigns.services.group_buys.team_closing import release_stale
from siyu.catalog.services.queries import member_unit_fen
from siyu.common.errors import Conflict, NotFound
from siyu.common.idempotency import system_key
from siyu.common.validators import fen_to_yuan, optional_id
from siyu.communities.models import Community, CommunityMembership, GroupDelivery, Message
from siyu.communities.services.robot import post_to_group
from siyu.loyalty.services import participation
from siyu.members.models import Member
from siyu.orders.models import Order, OrderSource, OrderStatus, PaymentMethod
from siyu.orders.services.checkout import create_order

# --- opening and joining ---------------------------------------------------------------------------------


def _groups_of(member: Member, store_id: int) -> QuerySet[CommunityMembership]:
    return CommunityMembership.objects.filter(
        member=member,
        status=CommunityMembership.Status.ACTIVE,
        community__store_id=store_id,
        community__status=Community.Status.OPEN,
    )


def member_group(
    member: Member, campaign: Campaign, store_id: int, *, prefer: int | None = None
) -> Community | None:
    """The member's group to post in for a team at ``store_id``: ``prefer`` when the member is in it, else
    one of the campaign's groups, else any open group of the store they are in (None: no group)."""
    memberships = _groups_of(member, store_id)
    ids = list(memberships.order_by("community_id").values_list("community_id", flat=True))
    if not ids:
        return None
    chosen = prefer if prefer in ids else None
    if chosen is None:
        campaign_groups = set(campaign.communities.values_list("id", flat=True))
        chosen = next((pk for pk in ids if pk in campaign_groups), ids[0])
    return Community.objects.get(pk=chosen)


def _pickup_window(campaign: Campaign, deadline: datetime, now: datetime) -> tuple[datetime, datetime]:
    return now, max(campaign.pickup_until, deadline + MIN_PICKUP_AFTER_DEADLINE)


def running_group_buy(campaign: Campaign, now: datetime) -> GroupBuy:
    if not is_running(campaign, now):
        raise Conflict(_("This group buy is not running."), field="campaign", code="not_running")
    return GroupBuy.objects.select_related("sku").get(campaign=campaign)


def _try_form(team_id: int, group_buy: GroupBuy, at: datetime) -> bool:
    """open → formed once ``paid_count`` reached ``min_size`` before the deadline (one conditional UPDATE)."""
    formed = GroupBuyTeam.objects.filter(
        pk=team_id, status=T.OPEN, paid_count__gte=group_buy.min_size, deadline__gt=at
    ).update(status=T.FORMED, formed_at=timezone.now())
    if formed:
        team = GroupBuyTeam.objects.get(pk=team_id)
        record_event(
            "group_buy.formed",
            member_id=team.leader_id,
            store_id=team.store_id,
            community_id=team.community_id,
            payload={"team_id": team.pk, "campaign_id": team.campaign_id, "paid_count": team.paid_count},
        )
        post_formed(team)
    return bool(formed)


def _counted(team_id: int, place: GroupBuyMember, member: Member, order_id: int, at: datetime) -> None:
    """A place was just counted (paid, or committed at pickup): form the team or post the progress."""
    group_buy = GroupBuy.objects.get(campaign_id=place.campaign_id)
    if _try_form(team_id, group_buy, at):
        return
    team = GroupBuyTeam.objects.get(pk=team_id)
    if team.status != T.OPEN:
        return
    if member.pk == team.leader_id:
        post_opened(team, member)
    else:
        post_joined(team, member, order_id)


class _Retry(Exception):
    """The place changed under us (a concurrent request): answer with what is there now."""


def _place(
    team: GroupBuyTeam, member: Member, group_buy: GroupBuy, previous: GroupBuyMember | None, now: datetime
) -> GroupBuyMember:
    """Take a place in ``team`` and place its order; call inside a transaction (everything or nothing)."""
    campaign = team.campaign
    listing = listing_for(group_buy, team.store_id)
    if listing is None:
        raise Conflict(_("This item is not available at this store."), field="team", code="unavailable")
    claimed = GroupBuyTeam.objects.filter(
        pk=team.pk, status__in=JOINABLE, deadline__gt=now, joined_count__lt=group_buy.max_size
    ).update(joined_count=F("joined_count") + 1)
    if not claimed:
        fresh = GroupBuyTeam.objects.get(pk=team.pk)
        if fresh.status in JOINABLE and fresh.deadline > now:
            raise Conflict(_("This team is full."), field="team", code="team_full")
        raise Conflict(_("This team is closed."), field="team", code="team_closed")
    if previous is None:
        place = GroupBuyMember.objects.create(team=team, campaign=campaign, member=member)
        key = system_key("groupbuy", team.pk)
    else:
        # Back after an unpaid order lapsed: the same row (one per member and team) takes the new order.
        if not GroupBuyMember.objects.filter(pk=previous.pk, status=M.LEFT).update(
            status=M.PENDING_PAYMENT, order=None
        ):
            raise _Retry
        place = GroupBuyMember.objects.get(pk=previous.pk)
        key = system_key("groupbuy", team.pk, "after", previous.order_id or 0)
    order = create_order(
        member,
        store_id=team.store_id,
        items=[(listing.pk, 1)],
        pickup_window=_pickup_window(campaign, team.deadline, now),
        idempotency_key=key,
        community_id=team.community_id,
        campaign_id=campaign.pk,
        unit_prices={listing.pk: group_buy.price_fen},
        source=OrderSource.GROUP_BUY,
    )
    if order.status != OrderStatus.PENDING_PAYMENT or GroupBuyMember.objects.filter(order=order).exists():
        raise _Retry  # an order of an earlier attempt answered the key; nothing to attach
    GroupBuyMember.objects.filter(pk=place.pk).update(order=order)
    counted = order.payment_method == PaymentMethod.PAY_AT_PICKUP
    if counted:
        # Pay at pickup: no online payment to wait for, so the place counts now (see docs/group-buys.md).
        GroupBuyMember.objects.filter(pk=place.pk, status=M.PENDING_PAYMENT).update(status=M.PAID)
        if not GroupBuyTeam.objects.filter(pk=team.pk, paid_count__lt=F("joined_count")).update(
            paid_count=F("paid_count") + 1
        ):
            raise _Retry
    record_event(
        "group_buy.joined",
        member_id=member.pk,
        store_id=team.store_id,
        community_id=team.community_id,
        payload={
            "team_id": team.pk,
            "campaign_id": campaign.pk,
            "order_id": order.pk,
            "leader": member.pk == team.leader_id,
        },
    )
    # Taking part earns the brand's participation points, once per member and campaign (none without a rule).
    participation.take_part(member, "campaign", str(campaign.pk), now=now)
    if counted:
        _counted(team.pk, place, member, order.pk, now)
    return GroupBuyMember.objects.select_related("team", "order").get(pk=place.pk)


def _answer_after_conflict(member: Member, team_id: int | None, campaign_id: int) -> GroupBuyMember:
    live = live_membership(member, campaign_id)
    if live is not None and (team_id is None or live.team_id == team_id):
        return live
    raise Conflict(_("You are already in a team of this group buy."), field="team", code="already_in_team")


def open_team(
    member: Member,
    campaign_id: Any,
    *,
    store_id: Any,
    community_id: Any = None,
    now: datetime | None = None,
) -> GroupBuyMember:
    """Open a team of the running group buy ``campaign_id`` with ``member`` as leader and first member,
    picking up at ``store_id``; the robot posts in the member's group of that store (``community_id`` when
    they are in it). Returns the leader's place (with its order, awaiting payment or, paying at pickup,
    already counted).

    Idempotent: a member already leading a live team of the campaign gets that place back. Conflict
    ``already_in_team`` (in another team), ``not_running``, ``unavailable`` (the SKU is not sold at the
    store), ``insufficient_stock``; NotFound for an unknown campaign or store. A refusal changes nothing."""
    now = now or timezone.now()
    campaign = offer_for_member(member, campaign_id)
    release_stale(member=member, campaign_id=campaign.pk)
    live = live_membership(member, campaign.pk)
    if live is not None and live.team.leader_id == member.pk:
        return live
    if live is not None:
        raise Conflict(
            _("You are already in a team of this group buy."), field="campaign", code="already_in_team"
        )
    group_buy = running_group_buy(campaign, now)
    pk = optional_id(store_id)
    if pk is None or not runs_in_store(campaign, pk):
        raise NotFound(_("No such store."), field="store")
    if listing_for(group_buy, pk) is None:
        raise Conflict(_("This item is not available at this store."), field="store", code="unavailable")
    community = member_group(member, campaign, pk, prefer=optional_id(community_id))
    deadline = min(now + timedelta(hours=group_buy.team_hours), campaign.ends_at)
    try:
        with transaction.atomic():
            team = GroupBuyTeam.objects.create(
                campaign=campaign, leader=member, store_id=pk, community=community, deadline=deadline
            )
            record_event(
                "group_buy.opened",
                member_id=member.pk,
                store_id=pk,
                community_id=community.pk if community else None,
                payload={"team_id": team.pk, "campaign_id": campaign.pk},
            )
            return _place(team, member, group_buy, None, now)
    except (IntegrityError, _Retry):
        # A concurrent request of the same member opened (or joined) first.
        live = live_membership(member, campaign.pk)
        if live is not None and live.team.leader_id == member.pk:
            return live
        raise Conflict(
            _("You are already in a team of this group buy."), field="campaign", code="already_in_team"
        ) from None


def join_team(member: Member, team_id: Any, *, now: datetime | None = None) -> GroupBuyMember:
    """Join team ``team_id``: take a place (``joined_count < max_size``, one conditional UPDATE) and place
    the order at the group price, picking up at the team's store. Returns the member's place.

    Idempotent per (member, team): a member already in the team gets the same place and order back (also
    for concurrent retries); after their unpaid order lapsed they may join again with a new order. Conflict
    ``team_full``, ``team_closed`` (failed or past its deadline), ``already_in_team`` (another team of the
    campaign), ``not_running``, ``unavailable``, ``insufficient_stock``; NotFound for an unknown team. A
    refusal changes nothing."""
    now = now or timezone.now()
    team = team_for_member(member, team_id)
    release_stale(member=member, campaign_id=team.campaign_id)
    release_stale(team_id=team.pk)
    existing = membership_in(member, team)
    if existing is not None and existing.status in LIVE:
        return existing
    if existing is not None and existing.status == M.REFUNDED:
        raise Conflict(_("This team is closed."), field="team", code="team_closed")
    if live_membership(member, team.campaign_id) is not None:
        raise Conflict(
            _("You are already in a team of this group buy."), field="team", code="already_in_team"
        )
    group_buy = running_group_buy(team.campaign, now)
    if team.status not in JOINABLE or team.deadline <= now:
        raise Conflict(_("This team is closed."), field="team", code="team_closed")
    try:
        with transaction.atomic():
            return _place(team, member, group_buy, existing, now)
    except (IntegrityError, _Retry):
        return _answer_after_conflict(member, team.pk, team.campaign_id)


def share_team(member: Member, team_id: Any) -> Message:
    """The robot posts a card of the team (link to its H5 page) in the member's group of the team's store;
    once per (team, member, group) — sharing again answers the same message. Conflict ``team_closed`` for a
    failed team, ``no_group`` when the member is in no group of that store."""
    team = team_for_member(member, team_id)
    if team.status == T.FAILED:
        raise Conflict(_("This team is closed."), field="team", code="team_closed")
    campaign = team.campaign
    group_buy = campaign.group_buy
    prefer = team.community_id
    community = member_group(member, campaign, team.store_id, prefer=prefer)
    if community is None:
        raise Conflict(_("Join your store's group first."), field="team", code="no_group")
    sku = group_buy.sku
    normal = member_unit_fen(sku)
    with translation.override(settings.LANGUAGE_CODE):
        card = {
            "title": (_("Group buy: %(title)s") % {"title": campaign.title})[:128],
            "description": (
                _("¥%(price)s instead of ¥%(normal)s. %(needed)s more needed, until %(deadline)s.")
                % {
                    "price": fen_to_yuan(group_buy.price_fen),
                    "normal": fen_to_yuan(normal),
                    "needed": still_needed(team, group_buy),
                    "deadline": timezone.localtime(team.deadline).strftime("%m-%d %H:%M"),
                }
            )[:512],
            "url": reverse("h5:group_buy_team", args=[team.pk]),
            "image_url": sku.product.image_url if sku.product.image_url.startswith("https://") else "",
        }
    return post_to_group(
        community,
        card=card,
        idempotency_key=f"groupbuy:{team.pk}:share:{member.pk}:{community.pk}",
        delivery_kind=GroupDelivery.Kind.CAMPAIGN,
        expires_at=team.deadline,
    )


# --- payment ---------------------------------------------------------------------------------------------


def on_order_paid(order: Order) -> None:
    """The ``paid`` order hook of group-buy orders (``order_hooks``; inside mark_paid's transaction): the
    place goes pending_payment → paid once, the team's ``paid_count`` +1, and the team forms if that reached
    ``min_size`` before its deadline (judged at the payment time). Places of the team whose order died
    (e.g. refunded by staff) are freed first, so they never count towards forming. A payment for a team
    that already failed is refunded by the next ``close_due_teams`` run. No-op for any other order."""
    if order.source != OrderSource.GROUP_BUY:
        return
    place = GroupBuyMember.objects.filter(order_id=order.pk).first()
    if place is None:
        return
    # A counted place whose order died (a staff refund) must not help this payment form the team.
    release_stale(team_id=place.team_id)
    if not GroupBuyMember.objects.filter(pk=place.pk, status=M.PENDING_PAYMENT).update(status=M.PAID):
        return  # counted already (pay at pickup) or no longer live
    if not GroupBuyTeam.objects.filter(
        pk=place.team_id, status__in=JOINABLE, paid_count__lt=F("joined_count")
    ).update(paid_count=F("paid_count") + 1):
        return  # the team failed meanwhile: the job refunds this order
    member = Member.objects.get(pk=order.member_id)
    _counted(place.team_id, place, member, order.pk, order.paid_at or timezone.now())
