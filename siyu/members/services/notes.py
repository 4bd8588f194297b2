"""Staff notes on members."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict, ValidationFailed
from siyu.members.models import MemberNote
from siyu.members.services.profiles import get_member
from siyu.org.models import Staff
from siyu.org.services.audit import record_audit


@transaction.atomic
def add_note(staff: Staff, member_id: Any, text: str, *, ip: str | None = None) -> MemberNote:
    """Add a note (1–2000 characters) to a member in ``staff``'s scope."""
    member = get_member(staff, member_id)
    if member.erased_at:
        raise Conflict(_("This member's data was erased."), field="member")
    text = (text or "").strip()
    if not text or len(text) > 2000:
        raise ValidationFailed(_("A note has 1 to 2000 characters."), field="text")
    note = MemberNote.objects.create(member=member, author=staff, text=text)
    record_audit(
        staff, "member.note", target_type="member", target_id=member.pk, store_id=member.home_store_id, ip=ip
    )
    return note
