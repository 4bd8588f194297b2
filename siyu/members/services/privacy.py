"""Member data export (JSON) and erasure (anonymise, keep totals) under PIPL."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.models import Event
from siyu.analytics.services.events import record_event
from siyu.common.errors import Conflict
from siyu.members.hooks import MemberErased, member_erased
from siyu.members.models import ChannelIdentity, ConsentRecord, Member, MemberNote
from siyu.members.services.profiles import get_member
from siyu.members.services.public_profile import avatar_name, erase_public_profile
from siyu.org.models import Staff
from siyu.org.services.access import check_capability
from siyu.org.services.audit import record_audit


def member_data(member: Member) -> dict[str, Any]:
    """Everything Siyu holds about one member, as JSON-ready data."""
    return {
        "id": member.pk,
        "mobile": member.mobile,
        "name": member.name,
        "nickname": member.nickname,
        "avatar": avatar_name(member) or None,
        "gender": member.gender,
        "birthday": member.birthday.isoformat() if member.birthday else None,
        "age_band": member.age_band,
        "occupation": member.occupation,
        "district": member.district,
        "home_store": member.home_store.code if member.home_store else None,
        "joined_at": member.joined_at.isoformat(),
        "source": member.source,
        "marketing_consent": member.marketing_consent,
        "erased_at": member.erased_at.isoformat() if member.erased_at else None,
        "tags": [
            f"{mt.tag.group.name}/{mt.tag.name}" for mt in member.member_tags.select_related("tag__group")
        ],
        "identities": [
            {"channel": i.channel, "external_id": i.external_id, "unionid": i.unionid}
            for i in member.identities.all()
        ],
        "consent_history": [
            {"action": c.action, "source": c.source, "at": c.occurred_at.isoformat()}
            for c in member.consent_records.all()
        ],
        "notes": [{"text": n.text, "at": n.created_at.isoformat()} for n in member.notes.all()],
        "events": [
            {"type": e.type, "at": e.occurred_at.isoformat(), "payload": e.payload}
            for e in Event.objects.filter(member=member).order_by("occurred_at", "id")
        ],
    }


def export_member(staff: Staff, member_id: Any, *, ip: str | None = None) -> dict[str, Any]:
    """A member's full data for a subject-access request; audited."""
    # Scope first: an out-of-scope member must look missing (404), not forbidden.
    member = get_member(staff, member_id)
    check_capability(staff, "members.export")
    with transaction.atomic():
        record_audit(
            staff,
            "member.export",
            target_type="member",
            target_id=member.pk,
            store_id=member.home_store_id,
            ip=ip,
        )
    return member_data(member)


@transaction.atomic
def erase_member(staff: Staff, member_id: Any, *, ip: str | None = None) -> Member:
    """Anonymise a member: personal fields (the nickname and avatar file too), identities, notes, tags and
    event payloads are removed; the row, its id, its store and its event/ledger/order counts stay so totals
    are unchanged.
    Consent history is kept (proof of lawful processing) but reduced to action and time. Apps above
    members erase what they hold (communities: group message text and pictures) through the
    ``member_erased`` hook, in this transaction.
    """
    member = get_member(staff, member_id)
    check_capability(staff, "members.erase")
    locked = Member.objects.select_for_update().get(pk=member.pk)
    if locked.erased_at:
        raise Conflict(_("This member's data was already erased."), field="member")
    now = timezone.now()
    erase_public_profile(member.pk, str(locked.avatar.name or ""))
    Member.objects.filter(pk=member.pk).update(
        mobile=None,
        name="",
        nickname="",
        avatar="",
        gender="u",
        birthday=None,
        age_band="",
        occupation="",
        district="",
        marketing_consent=False,
        consent_updated_at=now,
        erased_at=now,
        updated_at=now,
    )
    ChannelIdentity.objects.filter(member=member).delete()
    MemberNote.objects.filter(member=member).delete()
    member.member_tags.all().delete()
    ConsentRecord.objects.filter(member=member).update(source="erased", recorded_by=None)
    Event.objects.filter(member=member).update(payload={})
    member_erased.send(MemberErased(member_id=member.pk, brand_id=member.brand_id))
    record_audit(
        staff, "member.erase", target_type="member", target_id=member.pk, store_id=member.home_store_id, ip=ip
    )
    record_event("member.erased", member_id=member.pk, store_id=member.home_store_id)
    member.refresh_from_db()
    return member
