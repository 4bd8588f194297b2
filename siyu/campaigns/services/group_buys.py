"""Group buys (拼团): head office sets up the offer; members open teams, join, pay; teams form or fail.

Rules (see docs/group-buys.md):

- A member opens a team for the campaign's SKU at the group price in their pickup store; the team's
  deadline is ``min(opened + team_hours, campaign.ends_at)``. Others join (at most ``max_size``; a full
  team answers Conflict ``team_full``). A member is in at most one live team per campaign (a database
  constraint); the leader is the team's first member. Opening and joining are idempotent per (member, team).
- Every place is an ordinary order (``source="group_buy"``) placed through ``checkout.create_order`` at the
  group price, so its unit is reserved at join time and goes back when the order is cancelled, expires or is
  refunded.
- A place counts (``paid_count``) once its order is paid online (``on_order_paid``, called by
  ``transitions.mark_paid``) or, with pay-at-pickup (no online provider), as soon as the member joins.
  The team forms when ``paid_count`` reaches ``min_size`` before the deadline (claimed once: open → formed).
- ``close_due_teams`` (periodic job ``group-buy-deadlines``) fails teams still open after their deadline
  (claimed once: open → failed) and settles every live place of a failed team exactly once: an unpaid order
  is cancelled, an online payment refunded automatically (``siyu.orders.services.refunds``). Work the payment
  provider could not do yet stays pending and is retried on the next run.
- Counters change only by conditional UPDATEs: ``joined_count < max_size`` to join, ``paid_count <
  joined_count`` to count a payment (the check constraint ``paid ≤ joined`` backs it up).
- The robot posts the team's progress in the team's group, each post once (idempotency keys): opened, each
  counted join, formed, failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    GroupBuy,
    GroupBuyMember,
    GroupBuyTeam,
)
from siyu.catalog.models import Sku, StoreListing
from siyu.catalog.services.queries import available_listings, member_unit_fen
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ServiceError, ValidationFailed
from siyu.common.mobile import mask_mobile
from siyu.communities.models import Community, CommunityMembership, Message
from siyu.communities.services.robot import post_to_group
from siyu.members.models import Member
from siyu.orders.models import Order, OrderSource, OrderStatus, PaymentMethod
from siyu.orders.services import transitions
from siyu.orders.services.checkout import create_order
from siyu.orders.services.refunds import refund_automatically, retry_late_refunds
from siyu.org.models import Staff, Store
from siyu.org.services.access import require_staff, store_scope
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

logger = logging.getLogger("siyu.campaigns.group_buys")

M = GroupBuyMember.Status
T = GroupBuyTeam.Status
LIVE = (M.PENDING_PAYMENT, M.PAID)
JOINABLE = (T.OPEN, T.FORMED)

# A payment made just before the deadline may be notified a little after it: teams fail this long after.
CLOSE_GRACE = timedelta(seconds=60)
# Places of failed teams whose refund keeps failing are retried this long; then staff settle them by hand.
SETTLE_WINDOW = timedelta(days=7)
# A team formed right at the campaign's end still leaves at least this long to pick up.
MIN_PICKUP_AFTER_DEADLINE = timedelta(hours=1)
BATCH = 200

MAX_TITLE = 100
MAX_DESCRIPTION = 2000
MAX_TEAM_SIZE = 100
MAX_TEAM_HOURS = 24 * 30
MAX_CAMPAIGN_DAYS = 90
FAILED_REASON = "group buy did not form"


# --- small helpers -------------------------------------------------------------------------------------


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def masked_name(member: Member | None) -> str:
    """How a member appears in team progress: the first character of the name and ``**`` (王**), else the
    masked mobile number."""
    if member is None:
        return _("Member")
    name = (member.name or "").strip()
    if name:
        return f"{name[0]}**"
    return mask_mobile(member.mobile) or _("Member")


def is_running(campaign: Campaign, now: datetime | None = None) -> bool:
    """Published and ``starts_at <= now < ends_at``."""
    now = now or timezone.now()
    return campaign.status == CampaignStatus.PUBLISHED and campaign.starts_at <= now < campaign.ends_at


def runs_in_store(campaign: Campaign, store_id: int) -> bool:
    """Whether members of ``store_id`` (an open store of the campaign's brand) take part: every open store
    when the campaign chose none."""
    store = Store.objects.filter(pk=store_id, brand_id=campaign.brand_id, status=Store.Status.OPEN).first()
    if store is None:
        return False
    chosen = list(campaign.stores.values_list("id", flat=True))
    return not chosen or store.pk in chosen


def still_needed(team: GroupBuyTeam, group_buy: GroupBuy) -> int:
    """Counted places still missing before the team forms (0 once reached)."""
    return max(group_buy.min_size - team.paid_count, 0)


def _listing(group_buy: GroupBuy, store_id: int) -> StoreListing | None:
    return available_listings(store_id).filter(sku_id=group_buy.sku_id).first()


def _int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(_("Give a whole number."), field=field)
    if not low <= value <= high:
        raise ValidationFailed(
            _("Must be between %(low)s and %(high)s.") % {"low": low, "high": high}, field=field
        )
    return value


def _when(value: Any, field: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationFailed(_("Choose a date and time."), field=field) from None
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise ValidationFailed(_("Choose a date and time."), field=field)
    return value


def _ids(value: Any, field: str) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list | tuple | set) or len(value) > 1000:
        raise ValidationFailed(_("Give a list of ids."), field=field)
    ids = []
    for item in value:
        ids.append(_int(item, field, 1, 2**63 - 1))
    return sorted(set(ids))


def _text(value: Any, field: str, limit: int, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(_("Give a text."), field=field)
    value = value.strip()
    if required and not value:
        raise ValidationFailed(_("This field is required."), field=field)
    if len(value) > limit:
        raise ValidationFailed(_("Too long (%(limit)s characters at most).") % {"limit": limit}, field=field)
    return value


def _pk(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        pk = int(value)
    except (TypeError, ValueError):
        return None
    return pk if 0 < pk < 2**63 else None


# --- setup by head office --------------------------------------------------------------------------------


def _require_hq(staff: Staff) -> None:
    require_staff(staff)
    if not (staff.is_superuser or staff.is_hq):
        raise PermissionDenied(_("Only head office sets up group buys."))


def create_group_buy(staff: Staff, data: dict[str, Any], *, ip: str | None = None) -> Campaign:
    """Create a draft group-buy campaign (HQ only: PermissionDenied otherwise).

    ``data``: ``title``, ``description``, ``sku`` (an active SKU of the brand), ``price_fen`` (1 … the SKU's
    price), ``min_size`` (2–100), ``max_size`` (min–100), ``team_hours`` (1–720), ``starts_at`` <
    ``ends_at`` (in the future, at most 90 days apart) < ``pickup_until``, ``stores`` (ids of the brand's
    stores; empty = every open store) and ``communities`` (the groups the robot may post in, of those
    stores). Anything else is ValidationFailed/NotFound and creates nothing. Audited ``campaign.create``."""
    _require_hq(staff)
    if not isinstance(data, dict):
        raise ValidationFailed(_("Invalid request."), field=None)
    brand_id = current_brand_id(staff)
    title = _text(data.get("title"), "title", MAX_TITLE, required=True)
    description = _text(data.get("description"), "description", MAX_DESCRIPTION, required=False)
    sku_id = _int(data.get("sku"), "sku", 1, 2**63 - 1)
    sku = (
        Sku.objects.select_related("product")
        .filter(pk=sku_id, product__brand_id=brand_id, active=True, product__active=True)
        .first()
    )
    if sku is None:
        raise NotFound(_("No such SKU."), field="sku")
    price_fen = _int(data.get("price_fen"), "price_fen", 1, sku.price_fen)
    min_size = _int(data.get("min_size", 3), "min_size", 2, MAX_TEAM_SIZE)
    max_size = _int(data.get("max_size", max(min_size, 10)), "max_size", min_size, MAX_TEAM_SIZE)
    team_hours = _int(data.get("team_hours", 24), "team_hours", 1, MAX_TEAM_HOURS)
    starts_at = _when(data.get("starts_at"), "starts_at")
    ends_at = _when(data.get("ends_at"), "ends_at")
    pickup_until = _when(data.get("pickup_until"), "pickup_until")
    now = timezone.now()
    if ends_at <= starts_at:
        raise ValidationFailed(_("The end must be after the start."), field="ends_at")
    if ends_at <= now:
        raise ValidationFailed(_("The end must be in the future."), field="ends_at")
    if ends_at - starts_at > timedelta(days=MAX_CAMPAIGN_DAYS):
        raise ValidationFailed(_("A group buy runs at most 90 days."), field="ends_at")
    if pickup_until <= ends_at:
        raise ValidationFailed(_("Pickup must end after the group buy ends."), field="pickup_until")
    store_ids = _ids(data.get("stores"), "stores")
    stores = list(Store.objects.filter(pk__in=store_ids, brand_id=brand_id))
    if len(stores) != len(store_ids):
        raise NotFound(_("No such store."), field="stores")
    community_ids = _ids(data.get("communities"), "communities")
    communities = list(
        Community.objects.filter(pk__in=community_ids, brand_id=brand_id).exclude(
            status=Community.Status.ARCHIVED
        )
    )
    if len(communities) != len(community_ids):
        raise NotFound(_("No such group."), field="communities")
    if store_ids and any(c.store_id not in store_ids for c in communities):
        raise ValidationFailed(_("Choose groups of the chosen stores."), field="communities")
    with transaction.atomic():
        campaign = Campaign.objects.create(
            brand_id=brand_id,
            kind=CampaignKind.GROUP_BUY,
            title=title,
            description=description,
            starts_at=starts_at,
            ends_at=ends_at,
            pickup_until=pickup_until,
            relay_enabled=False,
            created_by=staff,
        )
        campaign.stores.set(stores)
        campaign.communities.set(communities)
        GroupBuy.objects.create(
            campaign=campaign,
            sku=sku,
            price_fen=price_fen,
            min_size=min_size,
            max_size=max_size,
            team_hours=team_hours,
        )
        record_audit(
            staff,
            "campaign.create",
            target_type="campaign",
            target_id=campaign.pk,
            detail={
                "kind": CampaignKind.GROUP_BUY,
                "sku_id": sku.pk,
                "price_fen": price_fen,
                "min_size": min_size,
                "max_size": max_size,
                "team_hours": team_hours,
                "stores": store_ids,
                "communities": community_ids,
            },
            ip=ip,
        )
    return campaign


def _hq_campaign(staff: Staff, campaign_id: Any) -> Campaign:
    _require_hq(staff)
    pk = _pk(campaign_id)
    campaign = (
        Campaign.objects.filter(pk=pk, brand_id=current_brand_id(staff), kind=CampaignKind.GROUP_BUY).first()
        if pk
        else None
    )
    if campaign is None:
        raise NotFound(_("No such group buy."), field="campaign")
    return campaign


def publish_group_buy(staff: Staff, campaign_id: Any, *, ip: str | None = None) -> Campaign:
    """draft → published, once (Conflict ``not_draft`` otherwise; ``ended`` when its end has passed,
    ``unavailable`` when the SKU was deactivated). HQ only. Audited ``campaign.publish``."""
    campaign = _hq_campaign(staff, campaign_id)
    now = timezone.now()
    group_buy = GroupBuy.objects.select_related("sku", "sku__product").get(campaign=campaign)
    if campaign.ends_at <= now:
        raise Conflict(_("This group buy has already ended."), field="campaign", code="ended")
    if not (group_buy.sku.active and group_buy.sku.product.active):
        raise Conflict(_("The product is no longer active."), field="sku", code="unavailable")
    with transaction.atomic():
        if not Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.DRAFT).update(
            status=CampaignStatus.PUBLISHED, published_at=now, updated_at=now
        ):
            raise Conflict(_("Only a draft can be published."), field="status", code="not_draft")
        record_audit(staff, "campaign.publish", target_type="campaign", target_id=campaign.pk, ip=ip)
    campaign.refresh_from_db()
    return campaign


def cancel_group_buy(staff: Staff, campaign_id: Any, *, ip: str | None = None) -> Campaign:
    """draft/published → cancelled, once (Conflict ``already_cancelled``). HQ only. Its open teams fail at
    once (the robot says so); their orders are cancelled or refunded by the next ``close_due_teams`` run.
    Formed teams keep their orders. Audited ``campaign.cancel``."""
    campaign = _hq_campaign(staff, campaign_id)
    now = timezone.now()
    with transaction.atomic():
        if not Campaign.objects.filter(
            pk=campaign.pk, status__in=(CampaignStatus.DRAFT, CampaignStatus.PUBLISHED)
        ).update(status=CampaignStatus.CANCELLED, updated_at=now):
            raise Conflict(
                _("This group buy is already cancelled."), field="status", code="already_cancelled"
            )
        failed = 0
        for team_id in GroupBuyTeam.objects.filter(campaign=campaign, status=T.OPEN).values_list(
            "pk", flat=True
        ):
            failed += _fail_team(team_id, now, force=True)
        record_audit(
            staff,
            "campaign.cancel",
            target_type="campaign",
            target_id=campaign.pk,
            detail={"teams_failed": failed},
            ip=ip,
        )
    campaign.refresh_from_db()
    return campaign


# --- staff reads ---------------------------------------------------------------------------------------


def scoped_group_buys(staff: Staff) -> QuerySet[Campaign]:
    """Group-buy campaigns ``staff`` may see: HQ all of the brand; a store role those running in one of its
    stores (or in every store). Newest first."""
    scope = store_scope(staff)
    qs = Campaign.objects.filter(brand_id=current_brand_id(staff), kind=CampaignKind.GROUP_BUY)
    if scope is not None:
        qs = qs.filter(Q(stores__isnull=True) | Q(stores__in=scope)).distinct()
    return qs.select_related("group_buy", "group_buy__sku", "group_buy__sku__product").order_by(
        "-starts_at", "-id"
    )


def list_group_buys(staff: Staff, *, status: str | None = None) -> QuerySet[Campaign]:
    """``scoped_group_buys`` filtered by status (ValidationFailed for an unknown one)."""
    qs = scoped_group_buys(staff)
    if status:
        if status not in CampaignStatus.values:
            raise ValidationFailed(_("Unknown status."), field="status")
        qs = qs.filter(status=status)
    return qs


def get_group_buy(staff: Staff, campaign_id: Any) -> Campaign:
    """One group buy in scope; NotFound otherwise."""
    pk = _pk(campaign_id)
    campaign = scoped_group_buys(staff).filter(pk=pk).first() if pk else None
    if campaign is None:
        raise NotFound(_("No such group buy."), field="campaign")
    return campaign


def scoped_teams(staff: Staff) -> QuerySet[GroupBuyTeam]:
    """Teams ``staff`` may see: HQ all of the brand, a store role only its stores' teams."""
    scope = store_scope(staff)
    qs = GroupBuyTeam.objects.filter(campaign__brand_id=current_brand_id(staff))
    if scope is not None:
        qs = qs.filter(store_id__in=scope)
    return qs.select_related("campaign", "campaign__group_buy", "store", "leader", "community")


def list_teams(
    staff: Staff,
    *,
    status: str | None = None,
    store_id: int | None = None,
    campaign_id: int | None = None,
) -> QuerySet[GroupBuyTeam]:
    """Teams in scope, newest first, filtered by status, store and campaign (ValidationFailed for an
    unknown status)."""
    qs = scoped_teams(staff)
    if status:
        if status not in T.values:
            raise ValidationFailed(_("Unknown status."), field="status")
        qs = qs.filter(status=status)
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    return qs.order_by("-created_at", "-id")


def get_team(staff: Staff, team_id: Any) -> GroupBuyTeam:
    """One team in scope (another store's team looks absent: NotFound)."""
    pk = _pk(team_id)
    team = scoped_teams(staff).filter(pk=pk).first() if pk else None
    if team is None:
        raise NotFound(_("No such team."), field="team")
    return team


def team_counts(campaign: Campaign, staff: Staff | None = None) -> dict[str, int]:
    """How many teams of the campaign are open, formed and failed; with ``staff``, only the teams they may
    see (a store role: its stores' teams)."""
    teams = scoped_teams(staff) if staff is not None else GroupBuyTeam.objects.all()
    counts = dict(
        teams.filter(campaign=campaign)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in T.values}


def team_members(team: GroupBuyTeam) -> list[GroupBuyMember]:
    """The team's places in joining order, with member and order."""
    return list(team.members.select_related("member", "order").order_by("joined_at", "id"))


def pending_settlement(team: GroupBuyTeam) -> int:
    """Live places of a failed team still waiting to be cancelled or refunded."""
    if team.status != T.FAILED:
        return 0
    return team.members.filter(status__in=LIVE).count()


# --- member reads --------------------------------------------------------------------------------------


def offer_for_member(member: Member, campaign_id: Any) -> Campaign:
    """A published (or cancelled) group buy of the member's brand; NotFound for drafts and anything else."""
    pk = _pk(campaign_id)
    campaign = (
        Campaign.objects.select_related("group_buy", "group_buy__sku", "group_buy__sku__product")
        .filter(
            pk=pk,
            brand_id=member.brand_id,
            kind=CampaignKind.GROUP_BUY,
            status__in=(CampaignStatus.PUBLISHED, CampaignStatus.CANCELLED),
        )
        .first()
        if pk
        else None
    )
    if campaign is None:
        raise NotFound(_("No such group buy."), field="campaign")
    return campaign


def team_for_member(member: Member, team_id: Any) -> GroupBuyTeam:
    """A team of a group buy of the member's brand (any member may look at a shared team); NotFound
    otherwise."""
    pk = _pk(team_id)
    team = (
        GroupBuyTeam.objects.select_related(
            "campaign", "campaign__group_buy", "campaign__group_buy__sku__product", "store", "leader"
        )
        .filter(
            pk=pk,
            campaign__brand_id=member.brand_id,
            campaign__status__in=(CampaignStatus.PUBLISHED, CampaignStatus.CANCELLED),
        )
        .first()
        if pk
        else None
    )
    if team is None:
        raise NotFound(_("No such team."), field="team")
    return team


def joinable_teams(campaign: Campaign, store_id: int, now: datetime | None = None) -> list[GroupBuyTeam]:
    """Teams of the campaign at ``store_id`` a member could join now (open or formed, before the deadline,
    not full), closest to forming first."""
    now = now or timezone.now()
    max_size = campaign.group_buy.max_size
    return list(
        GroupBuyTeam.objects.filter(
            campaign=campaign,
            store_id=store_id,
            status__in=JOINABLE,
            deadline__gt=now,
            joined_count__lt=max_size,
        )
        .select_related("leader")
        .order_by("status", "-paid_count", "deadline", "id")[:50]
    )


def live_membership(member: Member, campaign_id: int) -> GroupBuyMember | None:
    """The member's live place (awaiting payment or counted) in the campaign, if any."""
    return (
        GroupBuyMember.objects.select_related("team", "order")
        .filter(campaign_id=campaign_id, member=member, status__in=LIVE)
        .first()
    )


def membership_in(member: Member, team: GroupBuyTeam) -> GroupBuyMember | None:
    return GroupBuyMember.objects.select_related("order").filter(team=team, member=member).first()


def team_formed_for(order: Order) -> bool:
    """Whether ``order`` is a place in a formed team (the counter hands over only those)."""
    return GroupBuyMember.objects.filter(order_id=order.pk, team__status=T.FORMED).exists()


# --- robot posts -----------------------------------------------------------------------------------------


def _post(team: GroupBuyTeam, key: str, build: Callable[[], str]) -> Message | None:
    """Have the robot post ``build()`` (text, in the brand's language) in the team's group, once per
    ``key``. A refused post (archived group…) is logged: the team's progress does not depend on it."""
    if team.community_id is None:
        return None
    community = Community.objects.select_related("connector").filter(pk=team.community_id).first()
    if community is None:
        return None
    with translation.override(settings.LANGUAGE_CODE):
        text = build()
    try:
        with transaction.atomic():
            return post_to_group(community, text=text, idempotency_key=f"groupbuy:{team.pk}:{key}")
    except ServiceError as exc:
        logger.warning("group buy post %s for team %s not posted: %s", key, team.pk, exc.message)
        return None


def _offer(team: GroupBuyTeam) -> tuple[Campaign, GroupBuy]:
    campaign = Campaign.objects.get(pk=team.campaign_id)
    return campaign, GroupBuy.objects.get(campaign_id=team.campaign_id)


def _post_opened(team: GroupBuyTeam, leader: Member) -> None:
    campaign, group_buy = _offer(team)
    _post(
        team,
        "opened",
        lambda: (
            _(
                "%(name)s opened a group buy: %(title)s at ¥%(price)s. "
                "%(needed)s more needed to form the team."
            )
            % {
                "name": masked_name(leader),
                "title": campaign.title,
                "price": yuan(group_buy.price_fen),
                "needed": still_needed(team, group_buy),
            }
        ),
    )


def _post_joined(team: GroupBuyTeam, member: Member, order_id: int) -> None:
    campaign, group_buy = _offer(team)
    _post(
        team,
        f"paid:{order_id}",
        lambda: (
            _("%(name)s joined the group buy %(title)s. %(needed)s more needed to form the team.")
            % {"name": masked_name(member), "title": campaign.title, "needed": still_needed(team, group_buy)}
        ),
    )


def _post_formed(team: GroupBuyTeam) -> None:
    campaign, _group_buy = _offer(team)
    store = Store.objects.get(pk=team.store_id)
    _post(
        team,
        "formed",
        lambda: (
            _("Group buy formed: %(title)s with %(count)s members. Pick up at %(store)s.")
            % {"title": campaign.title, "count": team.paid_count, "store": store.name}
        ),
    )


def _post_failed(team: GroupBuyTeam, *, refunds: bool) -> None:
    campaign, _group_buy = _offer(team)
    if refunds:
        _post(
            team,
            "failed",
            lambda: (
                _("The group buy %(title)s did not form in time. Payments are refunded automatically.")
                % {"title": campaign.title}
            ),
        )
    else:
        _post(
            team,
            "failed",
            lambda: (
                _("The group buy %(title)s did not form in time. The orders are cancelled.")
                % {"title": campaign.title}
            ),
        )


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


def _running_campaign(campaign: Campaign, now: datetime) -> GroupBuy:
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
        _post_formed(team)
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
        _post_opened(team, member)
    else:
        _post_joined(team, member, order_id)


class _Retry(Exception):
    """The place changed under us (a concurrent request): answer with what is there now."""


def _place(
    team: GroupBuyTeam, member: Member, group_buy: GroupBuy, previous: GroupBuyMember | None, now: datetime
) -> GroupBuyMember:
    """Take a place in ``team`` and place its order; call inside a transaction (everything or nothing)."""
    campaign = team.campaign
    listing = _listing(group_buy, team.store_id)
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
        key = f"groupbuy-{team.pk}"
    else:
        # Back after an unpaid order lapsed: the same row (one per member and team) takes the new order.
        if not GroupBuyMember.objects.filter(pk=previous.pk, status=M.LEFT).update(
            status=M.PENDING_PAYMENT, order=None
        ):
            raise _Retry
        place = GroupBuyMember.objects.get(pk=previous.pk)
        key = f"groupbuy-{team.pk}-after-{previous.order_id or 0}"
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
    group_buy = _running_campaign(campaign, now)
    pk = _pk(store_id)
    if pk is None or not runs_in_store(campaign, pk):
        raise NotFound(_("No such store."), field="store")
    if _listing(group_buy, pk) is None:
        raise Conflict(_("This item is not available at this store."), field="store", code="unavailable")
    community = member_group(member, campaign, pk, prefer=_pk(community_id))
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
    group_buy = _running_campaign(team.campaign, now)
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
                    "price": yuan(group_buy.price_fen),
                    "normal": yuan(normal),
                    "needed": still_needed(team, group_buy),
                    "deadline": timezone.localtime(team.deadline).strftime("%m-%d %H:%M"),
                }
            )[:512],
            "url": reverse("h5:group_buy_team", args=[team.pk]),
            "image_url": sku.product.image_url if sku.product.image_url.startswith("https://") else "",
        }
    return post_to_group(
        community, card=card, idempotency_key=f"groupbuy:{team.pk}:share:{member.pk}:{community.pk}"
    )


# --- payment ---------------------------------------------------------------------------------------------


def on_order_paid(order: Order) -> None:
    """Hook of ``transitions.mark_paid`` (same transaction) for group-buy orders: the place goes
    pending_payment → paid once, the team's ``paid_count`` +1, and the team forms if that reached
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


# --- lapsed places, deadlines and settlement ------------------------------------------------------------


def _release(place: GroupBuyMember) -> bool:
    """Free the place of a live member whose order died (cancelled, expired, refunded) while the team is
    open (or, unpaid, formed): the counts go back by conditional UPDATEs."""
    with transaction.atomic():
        if place.status == M.PENDING_PAYMENT:
            if not GroupBuyMember.objects.filter(pk=place.pk, status=M.PENDING_PAYMENT).update(status=M.LEFT):
                return False
            GroupBuyTeam.objects.filter(pk=place.team_id, joined_count__gt=F("paid_count")).update(
                joined_count=F("joined_count") - 1
            )
            return True
        order_status = (
            Order.objects.filter(pk=place.order_id).values_list("status", flat=True).first()
            if place.order_id is not None
            else None
        )
        new = M.REFUNDED if order_status == OrderStatus.REFUNDED else M.LEFT
        if not GroupBuyMember.objects.filter(pk=place.pk, status=M.PAID, team__status=T.OPEN).update(
            status=new
        ):
            return False
        if not GroupBuyTeam.objects.filter(pk=place.team_id, status=T.OPEN, paid_count__gt=0).update(
            paid_count=F("paid_count") - 1, joined_count=F("joined_count") - 1
        ):
            # The team formed (or failed) in between: it keeps the place, so the counts stay as they are.
            transaction.set_rollback(True)
            return False
        return True


def release_stale(
    *, team_id: int | None = None, member: Member | None = None, campaign_id: int | None = None
) -> int:
    """Free places whose order was cancelled, expired or refunded: unpaid places of open or formed teams,
    counted places of open teams (a formed team keeps its members). Returns how many were freed; safe to
    run concurrently (each place is claimed by a conditional UPDATE)."""
    dead = (OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REFUNDED)
    qs = GroupBuyMember.objects.filter(order__status__in=dead).filter(
        Q(status=M.PENDING_PAYMENT, team__status__in=JOINABLE) | Q(status=M.PAID, team__status=T.OPEN)
    )
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    if member is not None:
        qs = qs.filter(member=member)
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    return sum(_release(place) for place in qs.order_by("pk")[:BATCH])


def _fail_team(team_id: int, now: datetime, *, force: bool = False) -> bool:
    """open → failed once (past its deadline plus the grace, or ``force``); the robot says so."""
    with transaction.atomic():
        qs = GroupBuyTeam.objects.filter(pk=team_id, status=T.OPEN)
        if not force:
            qs = qs.filter(deadline__lte=now - CLOSE_GRACE)
        if not qs.update(status=T.FAILED, closed_at=now):
            return False
        team = GroupBuyTeam.objects.get(pk=team_id)
        record_event(
            "group_buy.failed",
            member_id=team.leader_id,
            store_id=team.store_id,
            community_id=team.community_id,
            payload={
                "team_id": team.pk,
                "campaign_id": team.campaign_id,
                "paid_count": team.paid_count,
                "joined_count": team.joined_count,
            },
        )
        refunds = (
            team.members.filter(status=M.PAID)
            .exclude(order__payment_method=PaymentMethod.PAY_AT_PICKUP)
            .exists()
        )
        _post_failed(team, refunds=refunds)
    return True


def _settle(place_id: int) -> bool:
    """Settle one live place of a failed team, once: cancel its unpaid order or refund its payment, then
    mark the place left/refunded. A provider failure leaves it live for the next run."""
    found = GroupBuyMember.objects.filter(pk=place_id, status__in=LIVE).values("order_id").first()
    if found is None:
        return False
    order_id = found["order_id"]
    try:
        with transaction.atomic():
            # Locks in the payment path's order (order, then place: mark_paid → on_order_paid), and skipping
            # what another runner (or a payment being applied) holds: that is settled by them or next run.
            order = None
            if order_id is not None:
                order = Order.objects.select_for_update(skip_locked=True).filter(pk=order_id).first()
                if order is None:
                    return False
            place = (
                GroupBuyMember.objects.select_for_update(skip_locked=True)
                .filter(pk=place_id, status__in=LIVE)
                .first()
            )
            if place is None or place.order_id != order_id:
                return False
            status = order.status if order is not None else OrderStatus.CANCELLED
            if order is not None and status == OrderStatus.PENDING_PAYMENT:
                transitions.cancel(order.pk, member=order.member, reason=FAILED_REASON)
                new = M.LEFT
            elif order is not None and status in (OrderStatus.PAID, OrderStatus.READY):
                refund_automatically(order, reason=FAILED_REASON)
                new = M.REFUNDED
            elif status == OrderStatus.REFUNDED:
                new = M.REFUNDED
            elif status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED):
                new = M.LEFT
            else:
                logger.error("place %s of a failed team has order %s %s", place.pk, place.order_id, status)
                return False
            return bool(GroupBuyMember.objects.filter(pk=place.pk, status=place.status).update(status=new))
    except ServiceError as exc:
        logger.warning("place %s of a failed team not settled yet (%s): %s", place_id, exc.code, exc.message)
        return False


def close_due_teams(now: datetime | None = None) -> int:
    """Periodic job ``group-buy-deadlines``: free lapsed places, fail teams still open past their deadline
    (plus ``CLOSE_GRACE``), settle every live place of failed teams (cancel or refund, exactly once), and
    retry late-payment refunds. Returns the work done. Safe to run concurrently and repeatedly: each step
    is claimed by a conditional UPDATE or a row lock, so a re-run changes nothing."""
    now = now or timezone.now()
    done = release_stale()
    due = list(
        GroupBuyTeam.objects.filter(status=T.OPEN, deadline__lte=now - CLOSE_GRACE)
        .order_by("deadline", "id")
        .values_list("pk", flat=True)[:BATCH]
    )
    for team_id in due:
        done += _fail_team(team_id, now)
    waiting = list(
        GroupBuyMember.objects.filter(
            status__in=LIVE, team__status=T.FAILED, team__closed_at__gte=now - SETTLE_WINDOW
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    for place_id in waiting:
        done += _settle(place_id)
    done += retry_late_refunds(now)
    return done
