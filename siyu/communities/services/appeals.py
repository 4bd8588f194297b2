"""Appeals: a member removed from a group by moderation asks once for the removal to be lifted; staff of the
group's store accept (= override the removal) or reject. See docs/moderation.md.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.validators import parse_id
from siyu.communities.models import Appeal, ModerationAction
from siyu.communities.services.moderation_log import override, scoped_actions
from siyu.members.models import Member
from siyu.org.models import Staff
from siyu.org.services.audit import record_audit


@transaction.atomic
def submit_appeal(member: Member, action_id: Any, text: str) -> Appeal:
    """A member appeals against their own removal, once.

    Guarantees: only the removed member may appeal (another member's action is NotFound); only removals
    can be appealed (ValidationFailed); a second appeal against the same removal, or one against a removal
    already overridden, is a Conflict. Nothing is written when refused.
    """
    pk = parse_id(action_id, "action", _("No such moderation action."))
    action = ModerationAction.objects.select_for_update().filter(pk=pk, member_id=member.pk).first()
    if action is None:
        raise NotFound(_("No such moderation action."), field="action")
    if action.action != ModerationAction.Kind.REMOVE:
        raise ValidationFailed(_("Only a removal can be appealed."), field="action")
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(_("Tell us why the removal was wrong."), field="text")
    if len(text) > 1000:
        raise ValidationFailed(_("Too long (1000 characters at most)."), field="text")
    if Appeal.objects.filter(action=action).exists():
        raise Conflict(_("You have already appealed against this removal."), field="action")
    if action.overridden_at is not None:
        raise Conflict(_("This removal was already lifted."), field="action")
    return Appeal.objects.create(action=action, member=member, text=text)


def appeals(staff: Staff, *, status: str | None = Appeal.Status.PENDING) -> QuerySet[Appeal]:
    """Appeals against removals in ``staff``'s groups, oldest first (``status`` None: all)."""
    qs = Appeal.objects.filter(action__in=scoped_actions(staff)).select_related("action__community", "member")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("created_at", "id")


@transaction.atomic
def review_appeal(staff: Staff, appeal_id: Any, accept: bool, *, ip: str | None = None) -> Appeal:
    """Accept (= override the removal) or reject a pending appeal in one of ``staff``'s groups.

    Out-of-scope appeals are NotFound; an appeal already reviewed is a Conflict. Audited.
    """
    pk = parse_id(appeal_id, "appeal", _("No such appeal."))
    appeal = appeals(staff, status=None).filter(pk=pk).first()
    if appeal is None:
        raise NotFound(_("No such appeal."), field="appeal")
    appeal = Appeal.objects.select_for_update().get(pk=appeal.pk)
    if appeal.status != Appeal.Status.PENDING:
        raise Conflict(_("This appeal was already reviewed."), field="appeal")
    action = ModerationAction.objects.select_for_update().select_related("community").get(pk=appeal.action_id)
    appeal.status = Appeal.Status.ACCEPTED if accept else Appeal.Status.REJECTED
    appeal.reviewed_by = staff
    appeal.reviewed_at = timezone.now()
    appeal.save(update_fields=["status", "reviewed_by", "reviewed_at"])
    if accept and action.overridden_at is None:
        override(staff, action, _("Appeal accepted."), ip=ip)
    record_audit(
        staff,
        "moderation.appeal_reviewed",
        target_type="member",
        target_id=appeal.member_id,
        store_id=action.community.store_id,
        detail={"appeal_id": appeal.pk, "action_id": action.pk, "accepted": bool(accept)},
        ip=ip,
    )
    return appeal
