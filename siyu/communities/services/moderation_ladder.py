"""The moderation ladder: what happens to a member whose message broke a group rule.

Each offence takes the next step of the group's ladder (warn → mute → remove by default), counted over the
member's un-overridden actions in the group within the policy window. A step hides the message, logs a
``ModerationAction``, deletes the message on Telegram, applies the sanction and has the robot say why.
See docs/moderation.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.channels.models import ChannelKind
from siyu.channels.services import outbox
from siyu.communities.models import Community, GroupDelivery, ModerationAction, ModerationRule
from siyu.communities.models.messages import Message
from siyu.communities.services.moderation_policy import EffectivePolicy, effective_policy
from siyu.communities.services.robot import post_to_group
from siyu.communities.services.sanctions import member_display_name, mute_member, remove_from_group
from siyu.members.models import Member

# Counted actions: a "hide" row only explains a hidden message and never moves a member up the ladder.
COUNTED_ACTIONS = (ModerationAction.Kind.WARN, ModerationAction.Kind.MUTE, ModerationAction.Kind.REMOVE)


@dataclass(frozen=True)
class Verdict:
    """The outcome of reviewing one message. ``allowed`` False means the message was hidden; ``action`` is
    the step taken against the sender (None when the message was only hidden)."""

    allowed: bool
    action: str | None
    rule: str | None
    reason: str


ALLOWED = Verdict(allowed=True, action=None, rule=None, reason="")


def offence_count(
    community: Community, member: Member, window_days: int, *, now: datetime | None = None
) -> int:
    """The member's un-overridden warn/mute/remove actions in ``community`` within ``window_days``."""
    now = now or timezone.now()
    return ModerationAction.objects.filter(
        community=community,
        member=member,
        action__in=COUNTED_ACTIONS,
        overridden_at__isnull=True,
        created_at__gte=now - timedelta(days=window_days),
    ).count()


def recent_flood_action(community: Community, member: Member, policy: EffectivePolicy, now: datetime) -> bool:
    """Whether the member was already acted on for flooding within the policy's flood window."""
    # One burst is one offence: without this a member forwarding ten photos at once would go from warning
    # to removal within a second, before they could read the warning.
    return ModerationAction.objects.filter(
        community=community,
        member=member,
        rule=ModerationRule.FLOOD,
        created_at__gte=now - timedelta(seconds=policy.flood_seconds),
    ).exists()


def take_step(
    message: Message,
    community: Community,
    member: Member,
    action: str,
    rule: str,
    reason: str,
    *,
    policy: EffectivePolicy | None = None,
) -> Verdict:
    """Act on ``message`` for breaking ``rule``: hide it, log ``action`` (warn, mute, remove or hide) as a
    ``ModerationAction`` pointing at it, delete it on Telegram, apply the sanction (a mute of the policy's
    length; a removal, on the channel too) and post the robot's notice. Runs in the caller's transaction."""
    policy = policy or effective_policy(community)
    message.hidden = True
    message.save(update_fields=["hidden"])
    logged = ModerationAction.objects.create(
        community=community,
        member=member,
        rule=rule,
        message=message,
        action=action,
        reason=reason[:255],
        actor=None,
    )
    _delete_on_channel(community, message, logged)
    rule_label = ModerationRule(rule).label
    name = member_display_name(member)
    if action == ModerationAction.Kind.WARN:
        _robot_notice(
            community,
            logged,
            _("%(name)s, please respect the group rules (%(rule)s). Your message was hidden.")
            % {"name": name, "rule": rule_label},
        )
    elif action == ModerationAction.Kind.MUTE:
        until = timezone.now() + timedelta(minutes=policy.mute_minutes)
        mute_member(community, member, until, action_id=logged.pk)
        _robot_notice(
            community,
            logged,
            _("%(name)s was muted for %(minutes)s minutes for breaking the group rules (%(rule)s).")
            % {"name": name, "minutes": policy.mute_minutes, "rule": rule_label},
        )
    elif action == ModerationAction.Kind.REMOVE:
        remove_from_group(community, member, by=None, reason=reason, key=f"moderation:{logged.pk}")
        _robot_notice(
            community,
            logged,
            _("%(name)s was removed from the group for breaking the group rules (%(rule)s).")
            % {"name": name, "rule": rule_label},
        )
    return Verdict(
        allowed=False,
        action=None if action == ModerationAction.Kind.HIDE else action,
        rule=rule,
        reason=reason,
    )


def _delete_on_channel(community: Community, message: Message, action: ModerationAction) -> None:
    # A Telegram group shows the message in the app, not only in Siyu: delete it there too. WeCom has no
    # API to delete a member's group message, so it stays visible in WeCom itself.
    if (
        community.channel == ChannelKind.TELEGRAM
        and message.external_id
        and community.connector_id
        and community.external_id
    ):
        assert community.connector is not None
        outbox.enqueue(
            community.connector,
            "delete_message",
            {"chat_id": community.external_id, "message_id": message.external_id},
            bucket=f"chat:{community.external_id}",
            idempotency_key=f"moderation:{action.pk}:delete",
            community_id=community.pk,
        )


def _robot_notice(community: Community, action: ModerationAction, text: str) -> None:
    post_to_group(
        community,
        text=text,
        idempotency_key=f"moderation:{action.pk}:notice",
        delivery_kind=GroupDelivery.Kind.OTHER,
        can_wait=False,
    )
