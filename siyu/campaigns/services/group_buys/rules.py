"""Group-buy rules shared by the other modules: place and team states, limits, who takes part, input cleaning.

See ``siyu.campaigns.services.group_buys`` for the rules of group buys."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.campaigns.models import (
    Campaign,
    CampaignStatus,
    GroupBuy,
    GroupBuyMember,
    GroupBuyTeam,
)
from siyu.catalog.models import StoreListing
from siyu.catalog.services.queries import available_listings
from siyu.common.errors import NotFound, ValidationFailed
from siyu.common.validators import parse_ids
from siyu.members.models import Member
from siyu.members.services.public_profile import public_name
from siyu.org.models import Store

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


def masked_name(member: Member | None) -> str:
    """How a member appears in team progress: the members' one rule (``public_name``) — the nickname, else
    the first character of the name and ``**`` (王**), else the masked mobile number."""
    return public_name(member)


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


def listing_for(group_buy: GroupBuy, store_id: int) -> StoreListing | None:
    return available_listings(store_id).filter(sku_id=group_buy.sku_id).first()


def clean_when(value: Any, field: str) -> datetime:
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


def id_list(value: Any, field: str) -> list[int]:
    """Distinct ids (at most 1000), sorted."""
    if isinstance(value, set | frozenset):
        value = sorted(value, key=str)
    try:
        return sorted(parse_ids(value, field, limit=1000))
    except NotFound:
        raise ValidationFailed(_("Give a list of ids."), field=field) from None
