"""The robot's posts of a team's progress in its group (opened, joined, formed, failed), each once.

See ``siyu.campaigns.services.group_buys`` for the rules of group buys."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from siyu.campaigns.models import (
    Campaign,
    GroupBuy,
    GroupBuyTeam,
)
from siyu.campaigns.services.group_buys.rules import masked_name, still_needed
from siyu.common.errors import ServiceError
from siyu.common.validators import fen_to_yuan
from siyu.communities.models import Community, GroupDelivery, Message
from siyu.communities.services.robot import post_to_group
from siyu.members.models import Member
from siyu.org.models import Store

logger = logging.getLogger("siyu.campaigns.group_buys")


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
            return post_to_group(
                community,
                text=text,
                idempotency_key=f"groupbuy:{team.pk}:{key}",
                delivery_kind=GroupDelivery.Kind.CAMPAIGN,
                expires_at=team.deadline,
            )
    except ServiceError as exc:
        logger.warning("group buy post %s for team %s not posted: %s", key, team.pk, exc.message)
        return None


def _offer(team: GroupBuyTeam) -> tuple[Campaign, GroupBuy]:
    campaign = Campaign.objects.get(pk=team.campaign_id)
    return campaign, GroupBuy.objects.get(campaign_id=team.campaign_id)


def post_opened(team: GroupBuyTeam, leader: Member) -> None:
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
                "price": fen_to_yuan(group_buy.price_fen),
                "needed": still_needed(team, group_buy),
            }
        ),
    )


def post_joined(team: GroupBuyTeam, member: Member, order_id: int) -> None:
    campaign, group_buy = _offer(team)
    _post(
        team,
        f"paid:{order_id}",
        lambda: (
            _("%(name)s joined the group buy %(title)s. %(needed)s more needed to form the team.")
            % {"name": masked_name(member), "title": campaign.title, "needed": still_needed(team, group_buy)}
        ),
    )


def post_formed(team: GroupBuyTeam) -> None:
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


def post_failed(team: GroupBuyTeam, *, refunds: bool) -> None:
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
