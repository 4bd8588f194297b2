"""The review queue of invites held by the fraud rules: evidence in sentences, release or reject in bulk.

Guarantees: needs ``referrals.review`` (head office); a reviewer sees only the brand's invites, and staff
limited to some stores (were the capability ever given to them) only those stores' invites; each invite
moves held → pending (released: it may count) or held → rejected (never rewarded) by one conditional UPDATE,
so an invite reviewed twice at once changes once and one already reviewed is skipped (reported, not an
error); every change is audited with the evidence it was decided on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import ValidationFailed
from siyu.common.mobile import mask_mobile
from siyu.common.validators import clean_text, parse_ids
from siyu.org.models import Staff
from siyu.org.services.access import check_capability, store_scope
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id
from siyu.referrals.models import Invite, InviteStatus

MAX_BULK = 200
ACTIONS = ("release", "reject")


@dataclass
class ReviewResult:
    changed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)


def scoped_invites(staff: Staff) -> QuerySet[Invite]:
    """The brand's invites within ``staff``'s stores."""
    qs = Invite.objects.select_related("campaign", "inviter", "invitee", "community", "store").filter(
        brand_id=current_brand_id(staff)
    )
    scope = store_scope(staff)
    if scope is not None:
        qs = qs.filter(store_id__in=scope)
    return qs


def held_invites(staff: Staff, *, campaign_id: int | None = None) -> QuerySet[Invite]:
    """The invites waiting for review, oldest first."""
    check_capability(staff, "referrals.review")
    qs = scoped_invites(staff).filter(status=InviteStatus.HELD)
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    return qs.order_by("created_at", "id")


def describe_evidence(item: dict[str, Any]) -> str:
    """One sentence for one piece of evidence (never raw JSON)."""
    rule = item.get("rule")
    size = item.get("size", "?")
    limit = item.get("limit", "?")
    value = str(item.get("value", ""))
    others = [int(i) for i in item.get("invite_ids") or [] if isinstance(i, int)]
    with_others = (
        _(" Invites in the cluster: %(ids)s.") % {"ids": ", ".join(f"#{i}" for i in others[:20])}
        if others
        else ""
    )
    if rule == "velocity":
        text = _("The inviter brought %(n)s invitees within one hour (more than %(limit)s).") % {
            "n": size,
            "limit": limit,
        }
    elif rule == "device":
        text = _(
            "%(n)s invitees joined from the same phone (device fingerprint %(value)s…; limit %(limit)s)."
        ) % {
            "n": size,
            "value": value,
            "limit": limit,
        }
    elif rule == "ip":
        text = _(
            "%(n)s invitees joined from the same network %(value)s within an hour (limit %(limit)s)."
        ) % {
            "n": size,
            "value": value,
            "limit": limit,
        }
    elif rule == "sequential":
        text = _("%(n)s invitees have mobile numbers next to each other (%(value)s; limit %(limit)s).") % {
            "n": size,
            "value": value,
            "limit": limit,
        }
    elif rule == "burst":
        text = _(
            "%(n)s members joined through the same live code within ten minutes (more than %(limit)s)."
        ) % {
            "n": size,
            "limit": limit,
        }
    else:
        text = _("Held by a fraud rule.")
    return text + with_others


def evidence_sentences(invite: Invite) -> list[str]:
    return [describe_evidence(item) for item in invite.evidence or [] if isinstance(item, dict)]


def masked_invitee(invite: Invite) -> str:
    return mask_mobile(invite.invitee_mobile) if invite.invitee_mobile else f"#{invite.invitee_id}"


def review(staff: Staff, invite_ids: Any, action: Any, reason: Any = "") -> ReviewResult:
    """Release or reject the held invites ``invite_ids`` (at most 200; see module guarantees)."""
    check_capability(staff, "referrals.review")
    if action not in ACTIONS:
        raise ValidationFailed(_("Choose release or reject."), field="action")
    ids = parse_ids(invite_ids, "invite_ids", limit=MAX_BULK)
    if not ids:
        raise ValidationFailed(_("Choose at least one invite."), field="invite_ids")
    note = clean_text(reason, "reason", 200)
    target = InviteStatus.PENDING if action == "release" else InviteStatus.REJECTED
    now = timezone.now()
    result = ReviewResult()
    with transaction.atomic():
        visible = {i.pk: i for i in scoped_invites(staff).filter(pk__in=ids)}
        for pk in ids:
            invite = visible.get(pk)
            if invite is None:
                result.skipped.append(pk)
                continue
            changed = Invite.objects.filter(pk=pk, status=InviteStatus.HELD).update(
                status=target, reviewed_by=staff, reviewed_at=now, note=note
            )
            if not changed:
                result.skipped.append(pk)
                continue
            result.changed.append(pk)
            record_audit(
                staff,
                f"referral_invite.{action}",
                target_type="referral_invite",
                target_id=pk,
                store_id=invite.store_id,
                detail={
                    "reason": note,
                    "rules": [e.get("rule") for e in invite.evidence or [] if isinstance(e, dict)],
                    "inviter": invite.inviter_id,
                    "invitee": invite.invitee_id,
                },
            )
    return result
