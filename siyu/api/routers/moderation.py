"""Group moderation: appeals against removals, the brand's default and each group's own rules, and the
brand blocklist.

Thin callers of the moderation services (``appeals``, ``moderation_policy``, ``blocklist``). Store scope as
elsewhere: an appeal, group or blocklist entry outside the caller's stores answers 404 like a missing one;
mobile numbers are masked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema
from ninja.responses import Status

from siyu.api.auth import current_staff
from siyu.api.schemas import Id, In, PageParams, Ref, paginate
from siyu.common.mobile import mask_mobile
from siyu.communities.models import Appeal, BlocklistEntry
from siyu.communities.services import appeals, blocklist, moderation_policy
from siyu.communities.services.moderation_policy import EffectivePolicy
from siyu.org.models import Staff
from siyu.org.services.login import client_ip

router = Router()
# The service's bounds of the numeric rules, so the OpenAPI document states them (minimum/maximum).
_MIN = {name: low for name, (low, _high) in moderation_policy.INT_LIMITS.items()}
_MAX = {name: high for name, (_low, high) in moderation_policy.INT_LIMITS.items()}

LadderStep = Literal["warn", "mute", "remove"]


# --- schemas ------------------------------------------------------------------------------------


class AppealParams(Schema):
    status: Literal["pending", "accepted", "rejected", "all"] = Field(
        "pending", description="pending (default), accepted, rejected or all."
    )


class AppealActionOut(Schema):
    id: int
    community: Ref
    store_id: int
    rule: str
    reason: str
    created_at: datetime
    message_id: int | None
    message_text: str = Field(description="The text of the message the member was removed for.")
    overridden: bool


class AppealOut(Schema):
    id: int
    member: Ref
    text: str
    status: str
    created_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    action: AppealActionOut


class AppealPage(Schema):
    count: int
    items: list[AppealOut]


class AppealReviewIn(In):
    accept: bool = Field(description="true lifts the removal (the member may join again); false keeps it.")


class PolicyIn(In):
    """Only the fields given change; the rest keep their current value."""

    forbidden_keywords: list[str] | None = Field(None, description="Up to 500 words of 50 characters.")
    block_links: bool | None = None
    block_qr_images: bool | None = None
    block_contact: bool | None = None
    flood_count: int | None = Field(
        None, ge=_MIN["flood_count"], le=_MAX["flood_count"], description="2–100 messages …"
    )
    flood_seconds: int | None = Field(
        None,
        ge=_MIN["flood_seconds"],
        le=_MAX["flood_seconds"],
        description="… within 1–3600 seconds is a flood.",
    )
    repeat_count: int | None = Field(
        None,
        ge=_MIN["repeat_count"],
        le=_MAX["repeat_count"],
        description="2–100 times the same text in 10 minutes.",
    )
    ladder: list[LadderStep] | None = Field(None, description="1–10 steps in order, e.g. warn, mute, remove.")
    mute_minutes: int | None = Field(
        None, ge=_MIN["mute_minutes"], le=_MAX["mute_minutes"], description="1 to 43200."
    )
    window_days: int | None = Field(
        None, ge=_MIN["window_days"], le=_MAX["window_days"], description="Offences count for 1–365 days."
    )


class PolicyOut(Schema):
    community_id: int | None = Field(description="null for the brand default.")
    source: str = Field(description="Where the rules come from: community, brand or builtin.")
    forbidden_keywords: list[str]
    block_links: bool
    block_qr_images: bool
    block_contact: bool
    flood_count: int
    flood_seconds: int
    repeat_count: int
    ladder: list[str]
    mute_minutes: int
    window_days: int


class BlocklistIn(In):
    member_id: Id | None = Field(None, description="A member the caller may see.")
    mobile: str = Field("", max_length=32, description="HQ only.")
    channel: str = Field("", max_length=16, description="wecom, wechat, telegram or web (HQ only) …")
    external_id: str = Field("", max_length=128, description="… with the user's id on that channel.")
    reason: str = Field("", max_length=255)


class BlocklistMemberOut(Schema):
    id: int
    name: str
    mobile: str = Field(description="Always masked.")


class BlocklistOut(Schema):
    id: int
    member: BlocklistMemberOut | None
    mobile: str = Field(description="Always masked; empty when the entry names no mobile number.")
    channel: str
    external_id: str
    reason: str
    added_by: str | None
    created_at: datetime


class BlocklistPage(Schema):
    count: int
    items: list[BlocklistOut]


# --- presenters ---------------------------------------------------------------------------------


def _who(staff: Staff | None) -> str | None:
    return str(staff) if staff is not None else None


def appeal_out(appeal: Appeal) -> dict[str, Any]:
    action = appeal.action
    community = action.community
    message = action.message
    return {
        "id": appeal.pk,
        "member": {"id": appeal.member_id, "name": appeal.member.name or f"#{appeal.member_id}"},
        "text": appeal.text,
        "status": appeal.status,
        "created_at": appeal.created_at,
        "reviewed_by": _who(appeal.reviewed_by),
        "reviewed_at": appeal.reviewed_at,
        "action": {
            "id": action.pk,
            "community": {"id": community.pk, "name": community.name},
            "store_id": community.store_id,
            "rule": action.rule,
            "reason": action.reason,
            "created_at": action.created_at,
            "message_id": action.message_id,
            "message_text": message.text if message is not None else "",
            "overridden": action.overridden_at is not None,
        },
    }


def policy_out(policy: EffectivePolicy, community_id: int | None) -> dict[str, Any]:
    return {"community_id": community_id, "source": policy.source, **policy.as_dict()}


def blocklist_out(entry: BlocklistEntry) -> dict[str, Any]:
    member = entry.member
    return {
        "id": entry.pk,
        "member": {
            "id": member.pk,
            "name": member.name or f"#{member.pk}",
            "mobile": mask_mobile(member.mobile),
        }
        if member is not None
        else None,
        "mobile": mask_mobile(entry.mobile) if entry.mobile else "",
        "channel": entry.channel,
        "external_id": entry.external_id,
        "reason": entry.reason,
        "added_by": _who(entry.added_by),
        "created_at": entry.created_at,
    }


def _appeal_with_relations(staff: Staff, appeal_id: int) -> Appeal:
    return (
        appeals.appeals(staff, status=None).select_related("action__message", "reviewed_by").get(pk=appeal_id)
    )


# --- appeals ------------------------------------------------------------------------------------


@router.get("/appeals", response=AppealPage)
def list_appeals(
    request: HttpRequest, params: Query[AppealParams], page: Query[PageParams]
) -> dict[str, Any]:
    """Appeals against removals in the caller's groups, oldest first (``status`` pending by default)."""
    status = None if params.status == "all" else params.status
    qs = appeals.appeals(current_staff(request), status=status).select_related(
        "action__message", "reviewed_by"
    )
    count, items = paginate(qs, page)
    return {"count": count, "items": [appeal_out(a) for a in items]}


@router.post("/appeals/{int:appeal_id}/review", response=AppealOut)
def review_appeal(request: HttpRequest, appeal_id: Path[Id], payload: AppealReviewIn) -> dict[str, Any]:
    """Accept (the removal is overridden and the member may join again) or reject a pending appeal.
    Reviewing twice is 409; another store's appeal is 404."""
    staff = current_staff(request)
    appeal = appeals.review_appeal(staff, appeal_id, payload.accept, ip=client_ip(request))
    return appeal_out(_appeal_with_relations(staff, appeal.pk))


# --- rules --------------------------------------------------------------------------------------


@router.get("/moderation/policy", response=PolicyOut)
def get_default_policy(request: HttpRequest) -> dict[str, Any]:
    """The brand's default group rules, which every group without its own rules enforces."""
    return policy_out(moderation_policy.policy_for(current_staff(request)), None)


@router.put("/moderation/policy", response=PolicyOut)
def set_default_policy(request: HttpRequest, payload: PolicyIn) -> dict[str, Any]:
    """Change the brand's default rules (head office only, else 403). Fields left out keep their value."""
    staff = current_staff(request)
    moderation_policy.set_policy(staff, None, payload.model_dump(exclude_unset=True), ip=client_ip(request))
    return policy_out(moderation_policy.policy_for(staff), None)


@router.get("/communities/{int:community_id}/policy", response=PolicyOut)
def get_community_policy(request: HttpRequest, community_id: Path[Id]) -> dict[str, Any]:
    """The rules the group enforces: its own (``source`` community), else the brand default or built-in."""
    return policy_out(moderation_policy.policy_for(current_staff(request), community_id), community_id)


@router.put("/communities/{int:community_id}/policy", response=PolicyOut)
def set_community_policy(request: HttpRequest, community_id: Path[Id], payload: PolicyIn) -> dict[str, Any]:
    """Give the group its own rules or change them (staff of the group's store, or HQ). A group's first own
    rules start from those it enforced until then; fields left out keep their value."""
    staff = current_staff(request)
    moderation_policy.set_policy(
        staff, community_id, payload.model_dump(exclude_unset=True), ip=client_ip(request)
    )
    return policy_out(moderation_policy.policy_for(staff, community_id), community_id)


@router.delete("/communities/{int:community_id}/policy", response=PolicyOut)
def clear_community_policy(request: HttpRequest, community_id: Path[Id]) -> dict[str, Any]:
    """Drop the group's own rules: it enforces the brand default again (answered). Harmless to repeat."""
    staff = current_staff(request)
    moderation_policy.clear_policy(staff, community_id, ip=client_ip(request))
    return policy_out(moderation_policy.policy_for(staff, community_id), community_id)


# --- blocklist ----------------------------------------------------------------------------------


@router.get("/blocklist", response=BlocklistPage)
def list_blocklist(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """The brand blocklist, newest first: all entries for HQ, entries naming their members for store
    managers; clerks 403."""
    count, items = paginate(blocklist.blocklist(current_staff(request)), page)
    return {"count": count, "items": [blocklist_out(e) for e in items]}


@router.post("/blocklist", response={201: BlocklistOut})
def add_to_blocklist(request: HttpRequest, payload: BlocklistIn) -> Status:
    """Block a member (HQ, or a store manager for their members), a mobile number or a channel identity
    (HQ only). At least one is required; the same entry twice is 409."""
    entry = blocklist.add_to_blocklist(
        current_staff(request),
        member_id=payload.member_id,
        mobile=payload.mobile,
        channel=payload.channel,
        external_id=payload.external_id,
        reason=payload.reason,
        ip=client_ip(request),
    )
    return Status(201, blocklist_out(entry))


@router.delete("/blocklist/{int:entry_id}", response={204: None})
def remove_from_blocklist(request: HttpRequest, entry_id: Path[Id]) -> Status:
    """Delete a blocklist entry the caller may see (others 404)."""
    blocklist.remove_from_blocklist(current_staff(request), entry_id, ip=client_ip(request))
    return Status(204, None)
