"""``/members``: scoped member reads and changes. Out-of-scope members answer 404 like missing ones.

Mobile numbers are masked in every response except ``POST /members/{id}/reveal-mobile`` (audited).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Header, Path, Query, Router, Schema
from ninja.responses import Status

from siyu.analytics.models import Event
from siyu.api import idempotency
from siyu.api.auth import current_staff
from siyu.api.presenters import event_out, member_detail_out, member_out
from siyu.api.schemas import (
    ChangedOut,
    ConsentIn,
    ConsentOut,
    EventPage,
    Id,
    MemberCreateIn,
    MemberDetailOut,
    MemberPage,
    MemberUpdateIn,
    NoteIn,
    NoteOut,
    PageParams,
    RevealOut,
    TagRefIn,
    paginate,
)
from siyu.common.mobile import mask_mobile
from siyu.members.services import consent, notes, privacy, profiles
from siyu.members.services import tags as tag_services
from siyu.org.services.access import can_reveal_mobile
from siyu.org.services.login import client_ip

router = Router()


class MemberFilterParams(Schema):
    store: Id | None = Field(None, description="Home store id.")
    tag: Id | None = Field(None, description="Tag id.")
    age_band: str | None = None
    gender: str | None = Field(None, description="m, f or u.")
    joined_from: date | None = None
    joined_to: date | None = None
    q: str | None = Field(None, max_length=100, description="Name, or the last 4+ digits of the mobile.")

    def to_filter(self) -> profiles.MemberFilter:
        return profiles.MemberFilter(
            store_id=self.store,
            tag_id=self.tag,
            age_band=self.age_band,
            gender=self.gender,
            joined_from=self.joined_from,
            joined_to=self.joined_to,
            q=self.q,
        )


class ExportParams(MemberFilterParams):
    format: str = Field("csv", max_length=10, description="csv or xlsx.")


def _detail(request: HttpRequest, member_id: int) -> dict[str, Any]:
    return member_detail_out(profiles.get_member(current_staff(request), member_id))


@router.get("", response=MemberPage)
def list_members(
    request: HttpRequest, filters: Query[MemberFilterParams], page: Query[PageParams]
) -> dict[str, Any]:
    """Members in the caller's scope matching the filters, newest first. Erased members are left out."""
    qs = profiles.filter_members(current_staff(request), filters.to_filter())
    count, items = paginate(qs, page)
    return {"count": count, "items": [member_out(m) for m in items]}


@router.get("/export")
def export_members(request: HttpRequest, params: Query[ExportParams]) -> HttpResponse:
    """Download the filtered members as CSV or XLSX (roles with members.export; audited)."""
    from siyu.members.services import imports  # written alongside this API; imported when used

    content, content_type, filename = imports.export_members(
        current_staff(request), params.to_filter(), params.format, ip=client_ip(request)
    )
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@router.post("", response={200: MemberDetailOut, 201: MemberDetailOut})
def create_member(
    request: HttpRequest,
    payload: MemberCreateIn,
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        description="Retry-safe creation: the same key from the same staff returns the same member.",
    ),
) -> Status:
    """Create a member (201). With an Idempotency-Key, a retry answers 200 with the same body."""
    staff = current_staff(request)
    # Defaults included on purpose (an API-created member has source "api" unless told otherwise);
    # nulls left out, so "no birthday / no home store" reads the same as not sending the field.
    data = payload.model_dump(exclude_none=True)

    def create() -> tuple[int, Any]:
        member = profiles.create_member(staff, data, ip=client_ip(request))
        return 201, member_detail_out(member)

    status, body = idempotency.run_idempotent(
        request,
        idempotency_key,
        body=payload.model_dump(mode="json", exclude_none=True),
        action=create,
    )
    return Status(status, body)


@router.get("/{int:member_id}", response=MemberDetailOut)
def get_member(request: HttpRequest, member_id: Path[Id]) -> dict[str, Any]:
    """A member with tags, consent history and recent notes (mobile masked)."""
    return _detail(request, member_id)


@router.patch("/{int:member_id}", response=MemberDetailOut)
def update_member(request: HttpRequest, member_id: Path[Id], payload: MemberUpdateIn) -> dict[str, Any]:
    """Change profile fields; only the fields sent are changed."""
    member = profiles.update_member(
        current_staff(request), member_id, payload.model_dump(exclude_unset=True), ip=client_ip(request)
    )
    return member_detail_out(member)


@router.post("/{int:member_id}/reveal-mobile", response=RevealOut)
def reveal_mobile(request: HttpRequest, member_id: Path[Id]) -> dict[str, Any]:
    """The full mobile number, for staff allowed to see it (403 otherwise). Every reveal is audited."""
    mobile = profiles.reveal_mobile(current_staff(request), member_id, ip=client_ip(request))
    return {"mobile": mobile}


@router.post("/{int:member_id}/tags", response=ChangedOut)
def tag_member(request: HttpRequest, member_id: Path[Id], payload: TagRefIn) -> dict[str, Any]:
    """Put a manual tag on the member. ``changed`` is false if it was already there."""
    changed = tag_services.tag_member(
        current_staff(request), member_id, payload.tag_id, ip=client_ip(request)
    )
    return {"changed": changed}


@router.delete("/{int:member_id}/tags/{int:tag_id}", response=ChangedOut)
def untag_member(request: HttpRequest, member_id: Path[Id], tag_id: Path[Id]) -> dict[str, Any]:
    """Remove a manual tag. ``changed`` is false if the member did not have it."""
    changed = tag_services.untag_member(current_staff(request), member_id, tag_id, ip=client_ip(request))
    return {"changed": changed}


@router.post("/{int:member_id}/consent", response=ConsentOut)
def set_consent(request: HttpRequest, member_id: Path[Id], payload: ConsentIn) -> dict[str, Any]:
    """Record marketing consent given or withdrawn (``source``: staff, store, h5, api, …)."""
    staff = current_staff(request)
    record = consent.staff_set_consent(
        staff, member_id, payload.granted, source=payload.source, ip=client_ip(request)
    )
    member = profiles.get_member(staff, member_id)
    return {
        "changed": record is not None,
        "marketing_consent": member.marketing_consent,
        "consent_updated_at": member.consent_updated_at,
    }


@router.get("/{int:member_id}/events", response=EventPage)
def member_events(request: HttpRequest, member_id: Path[Id], page: Query[PageParams]) -> dict[str, Any]:
    """The member's timeline, newest first."""
    member = profiles.get_member(current_staff(request), member_id)
    qs = Event.objects.filter(member_id=member.pk).order_by("-occurred_at", "-id")
    count, items = paginate(qs, page)
    return {"count": count, "items": [event_out(e) for e in items]}


@router.post("/{int:member_id}/notes", response={201: NoteOut})
def add_note(request: HttpRequest, member_id: Path[Id], payload: NoteIn) -> Status:
    """Add a staff note (1–2000 characters)."""
    note = notes.add_note(current_staff(request), member_id, payload.text, ip=client_ip(request))
    author = note.author
    return Status(
        201,
        {
            "id": note.pk,
            "text": note.text,
            "author": str(author) if author else None,
            "created_at": note.created_at,
        },
    )


@router.get("/{int:member_id}/export", response=dict[str, Any])
def export_member(request: HttpRequest, member_id: Path[Id]) -> dict[str, Any]:
    """Everything held about the member (subject-access request; audited). The mobile number is
    included in full only for staff allowed to reveal numbers, and masked otherwise."""
    staff = current_staff(request)
    # Scope before capability: a member outside the caller's stores is 404 for everyone (ADR 0002).
    profiles.get_member(staff, member_id)
    data = privacy.export_member(staff, member_id, ip=client_ip(request))
    if not can_reveal_mobile(staff):
        data["mobile"] = mask_mobile(data.get("mobile"))
    return data


@router.post("/{int:member_id}/erase", response=MemberDetailOut)
def erase_member(request: HttpRequest, member_id: Path[Id]) -> dict[str, Any]:
    """Anonymise the member (HQ admin): personal data goes, the row and its totals stay."""
    staff = current_staff(request)
    # Scope before capability: a member outside the caller's stores is 404 for everyone (ADR 0002).
    profiles.get_member(staff, member_id)
    member = privacy.erase_member(staff, member_id, ip=client_ip(request))
    return member_detail_out(member)
