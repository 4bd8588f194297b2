"""Who moderation keeps out of a group: members on the brand blocklist, and members whose removal from the
group by moderation still stands (not overridden, within the policy window). The joining services ask
here before they seat anyone. See docs/moderation.md.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from siyu.communities.models import Community, ModerationAction
from siyu.communities.services.blocklist import is_blocked
from siyu.communities.services.moderation_policy import effective_policy
from siyu.members.models import Member


def removal_in_force(community: Community, member: Member) -> ModerationAction | None:
    """The un-overridden removal of the member from ``community`` within the policy window, if any."""
    policy = effective_policy(community)
    return (
        ModerationAction.objects.filter(
            community=community,
            member=member,
            action=ModerationAction.Kind.REMOVE,
            overridden_at__isnull=True,
            created_at__gte=timezone.now() - timedelta(days=policy.window_days),
        )
        .order_by("-created_at")
        .first()
    )


def may_join(community: Community, member: Member) -> bool:
    """False when the member is blocklisted or was removed from this group by moderation and the removal
    still stands (not overridden, within the window). The joining service calls this before a join."""
    return not is_blocked(member) and removal_in_force(community, member) is None
