"""The moderation log for staff: actions in the groups of their stores, and overriding an action the robot
got wrong (the message is shown again, a mute lifted, a removal no longer keeps the member out).
See docs/moderation.md.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.validators import parse_id
from siyu.communities.models import CommunityMembership, ModerationAction
from siyu.communities.models.messages import Message
from siyu.communities.services.messages import announce_message
from siyu.communities.services.queries import get_community
from siyu.org.models import Staff
from siyu.org.services.access import require_staff, store_scope
from siyu.org.services.audit import record_audit


def scoped_actions(staff: Staff) -> QuerySet[ModerationAction]:
    """Moderation actions in the groups of the stores ``staff`` serves (all for head office)."""
    require_staff(staff)
    qs = ModerationAction.objects.select_related(
        "community", "community__store", "member", "actor", "overridden_by"
    )
    scope = store_scope(staff)
    if scope is not None:
        qs = qs.filter(community__store_id__in=scope)
    return qs


def get_action(staff: Staff, action_id: Any) -> ModerationAction:
    """One moderation action in a group of ``staff``'s stores; NotFound otherwise."""
    pk = parse_id(action_id, "action", _("No such moderation action."))
    action = scoped_actions(staff).filter(pk=pk).first()
    if action is None:
        raise NotFound(_("No such moderation action."), field="action")
    return action


def moderation_log(
    staff: Staff, community_id: Any = None, store_id: Any = None
) -> QuerySet[ModerationAction]:
    """Moderation actions newest first, in ``staff``'s scope, optionally of one group or one store
    (a group or store outside the scope is NotFound)."""
    qs = scoped_actions(staff)
    if community_id not in (None, ""):
        qs = qs.filter(community=get_community(staff, community_id))
    if store_id not in (None, ""):
        pk = parse_id(store_id, "store", _("No such store."))
        scope = store_scope(staff)
        if scope is not None and pk not in scope:
            raise NotFound(_("No such store."), field="store")
        qs = qs.filter(community__store_id=pk)
    return qs.order_by("-created_at", "-id")


def override(staff: Staff, action: ModerationAction, note: str, *, ip: str | None = None) -> ModerationAction:
    """Override ``action`` (locked by the caller, not yet overridden) for ``override_action`` and accepted
    appeals; see ``override_action`` for what that guarantees."""
    now = timezone.now()
    action.overridden_by = staff
    action.overridden_at = now
    action.override_note = note[:255]
    action.save(update_fields=["overridden_by", "overridden_at", "override_note"])
    message = Message.objects.filter(pk=action.message_id).first() if action.message_id else None
    if message is not None and message.hidden:
        # The robot was wrong: show the message again.
        message.hidden = False
        message.save(update_fields=["hidden"])
        announce_message(message)
    if action.action == ModerationAction.Kind.MUTE:
        CommunityMembership.objects.filter(
            community_id=action.community_id,
            member_id=action.member_id,
            status=CommunityMembership.Status.ACTIVE,
            muted_until__gt=now,
        ).update(muted_until=None)
    record_audit(
        staff,
        "moderation.override",
        target_type="member",
        target_id=action.member_id,
        store_id=action.community.store_id,
        detail={
            "action_id": action.pk,
            "action": action.action,
            "rule": action.rule,
            "community": action.community_id,
            "note": action.override_note,
        },
        ip=ip,
    )
    return action


@transaction.atomic
def override_action(staff: Staff, action_id: Any, note: str, *, ip: str | None = None) -> ModerationAction:
    """Undo a moderation action in one of ``staff``'s groups (others are NotFound).

    Guarantees: the action is marked overridden (by, when, note) and no longer counts towards the ladder;
    the hidden message is shown again; an active mute is lifted in Siyu (a Telegram mute runs out on its
    own); a removal no longer stops the member re-joining (they are not put back automatically). Audited.
    Overriding twice is a Conflict; a note is required.
    """
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(_("Say why the action is overridden."), field="note")
    action = get_action(staff, action_id)
    action = ModerationAction.objects.select_for_update().select_related("community").get(pk=action.pk)
    if action.overridden_at is not None:
        raise Conflict(_("This action was already overridden."), field="action")
    return override(staff, action, note, ip=ip)
