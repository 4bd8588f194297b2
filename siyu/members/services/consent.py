"""Marketing consent (PIPL): granted and withdrawn with time and source, and honoured by ``can_market``."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.common.errors import Conflict, ValidationFailed
from siyu.members.models import ConsentRecord, Member
from siyu.members.services.profiles import get_member
from siyu.org.models import Staff
from siyu.org.services.audit import record_audit

CONSENT_SOURCES = {"h5", "store", "staff", "import", "api", "wecom", "telegram", "sms_reply", "demo"}


def can_market(member: Member) -> bool:
    """True only if the member currently consents to marketing and was not erased.

    Every capability that sends marketing (group posts to a person, SMS, campaigns) must call this.
    """
    return bool(member.marketing_consent) and member.erased_at is None


@transaction.atomic
def set_consent(
    member: Member, granted: bool, *, source: str, staff: Staff | None = None, ip: str | None = None
) -> ConsentRecord | None:
    """Record a grant or withdrawal of marketing consent. Unchanged state records nothing and returns None.

    Locks the member row so two simultaneous changes are applied one after the other.
    """
    if source not in CONSENT_SOURCES:
        raise ValidationFailed(_("Unknown consent source."), field="source")
    locked = Member.objects.select_for_update().get(pk=member.pk)
    if locked.erased_at:
        raise Conflict(_("This member's data was erased."), field="member")
    if locked.marketing_consent == granted:
        return None
    now = timezone.now()
    Member.objects.filter(pk=member.pk).update(
        marketing_consent=granted, consent_updated_at=now, updated_at=now
    )
    member.marketing_consent, member.consent_updated_at = granted, now
    action = ConsentRecord.Action.GRANTED if granted else ConsentRecord.Action.WITHDRAWN
    record = ConsentRecord.objects.create(
        member=member, action=action, source=source, recorded_by=staff, occurred_at=now
    )
    if staff is not None:
        record_audit(
            staff,
            f"member.consent_{action}",
            target_type="member",
            target_id=member.pk,
            store_id=member.home_store_id,
            detail={"source": source},
            ip=ip,
        )
    record_event(
        f"consent.{action}", member_id=member.pk, store_id=member.home_store_id, payload={"source": source}
    )
    return record


def staff_set_consent(
    staff: Staff, member_id: Any, granted: bool, *, source: str = "staff", ip: str | None = None
) -> ConsentRecord | None:
    """Staff record consent given or withdrawn in person (scope-checked)."""
    member = get_member(staff, member_id)
    return set_consent(member, granted, source=source, staff=staff, ip=ip)
