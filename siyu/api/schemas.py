"""Request and response shapes of the API.

Request bodies forbid unknown fields (a typo is an error, not a silent no-op). Ids are bounded to
the database's 64-bit range so that an absurd number is a 400, never a database error.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.db.models import QuerySet
from ninja import Field, Schema
from pydantic import ConfigDict

from siyu.common.validators import MAX_DB_ID

MAX_LIMIT = 200
MAX_OFFSET = 1_000_000_000

Id = Annotated[int, Field(ge=1, le=MAX_DB_ID)]
# The channels groups live on (``ChannelKind`` values); anything else is a 400 on ``channel``.
ChannelName = Literal["web", "wecom", "telegram"]
# ``Store.Status``, ``Role`` and ``Gender`` values (tests check they agree).
StoreStatus = Literal["preparing", "open", "suspended", "closed"]
RoleName = Literal["hq_admin", "hq_operator", "store_manager", "clerk"]
GenderName = Literal["m", "f", "u"]


class In(Schema):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(Schema):
    code: str
    message: str
    field: str | None = None


class PageParams(Schema):
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description="Page size, 1–200.")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Items to skip.")


def paginate(qs: QuerySet[Any], page: PageParams) -> tuple[int, list[Any]]:
    """(total count, the requested slice) of ``qs``."""
    return qs.count(), list(qs[page.offset : page.offset + page.limit])


# --- stores ----------------------------------------------------------------------------------


class StoreOut(Schema):
    id: int
    code: str
    name: str
    region: str | None
    city: str
    district: str
    address: str
    latitude: float | None
    longitude: float | None
    opening_hours: str
    phone: str
    status: str
    created_at: datetime


class StorePage(Schema):
    count: int
    items: list[StoreOut]


class StoreCreateIn(In):
    code: str = Field(max_length=32)
    name: str = Field(max_length=100)
    region: int | str | None = None
    city: str = Field("", max_length=50)
    district: str = Field("", max_length=50)
    address: str = Field("", max_length=255)
    latitude: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    longitude: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    opening_hours: str = Field("", max_length=100)
    phone: str = Field("", max_length=32)
    status: StoreStatus = "open"


class StoreUpdateIn(In):
    code: str | None = Field(None, max_length=32)
    name: str | None = Field(None, max_length=100)
    region: int | str | None = None
    city: str | None = Field(None, max_length=50)
    district: str | None = Field(None, max_length=50)
    address: str | None = Field(None, max_length=255)
    latitude: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    longitude: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    opening_hours: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=32)
    status: StoreStatus | None = None


# --- staff -----------------------------------------------------------------------------------


class StoreRef(Schema):
    id: int
    code: str
    name: str


class StaffOut(Schema):
    id: int
    username: str
    display_name: str
    role: str
    is_active: bool
    can_reveal_mobile: bool
    stores: list[StoreRef]
    last_login: datetime | None
    date_joined: datetime


class StaffPage(Schema):
    count: int
    items: list[StaffOut]


class StaffCreateIn(In):
    username: str = Field(max_length=150)
    password: str = Field(max_length=128)
    display_name: str = Field("", max_length=50)
    role: RoleName = "clerk"
    store_ids: list[Id] = []
    can_reveal_mobile: bool = False


class StaffUpdateIn(In):
    display_name: str | None = Field(None, max_length=50)
    role: RoleName | None = None
    store_ids: list[Id] | None = None
    is_active: bool | None = None
    can_reveal_mobile: bool | None = None
    password: str | None = Field(None, max_length=128)


# --- members ---------------------------------------------------------------------------------


class MemberTagOut(Schema):
    id: int
    group: str
    name: str
    origin: str


class MemberOut(Schema):
    id: int
    mobile: str = Field(description="Always masked (138****1234); see reveal-mobile.")
    name: str
    gender: str
    birthday: date | None
    age_band: str
    occupation: str
    district: str
    home_store: StoreRef | None
    joined_at: datetime
    source: str
    marketing_consent: bool
    erased_at: datetime | None


class ConsentRecordOut(Schema):
    action: str
    source: str
    occurred_at: datetime


class NoteOut(Schema):
    id: int
    text: str
    author: str | None
    created_at: datetime


class MemberDetailOut(MemberOut):
    consent_updated_at: datetime | None
    consent_history: list[ConsentRecordOut]
    tags: list[MemberTagOut]
    notes: list[NoteOut]


class MemberPage(Schema):
    count: int
    items: list[MemberOut]


class MemberCreateIn(In):
    mobile: str = Field(max_length=32)
    name: str = Field("", max_length=50)
    gender: GenderName = "u"
    birthday: date | None = None
    occupation: str = Field("", max_length=50)
    district: str = Field("", max_length=50)
    home_store: Id | str | None = Field(None, description="Store id or store code.")
    source: str = "api"


class MemberUpdateIn(In):
    name: str | None = Field(None, max_length=50)
    gender: GenderName | None = None
    birthday: date | None = None
    occupation: str | None = Field(None, max_length=50)
    district: str | None = Field(None, max_length=50)
    home_store: Id | str | None = Field(None, description="Store id or store code.")


class RevealOut(Schema):
    mobile: str


class TagRefIn(In):
    tag_id: Id


class ChangedOut(Schema):
    changed: bool


class ConsentIn(In):
    granted: bool
    source: str = "staff"


class ConsentOut(Schema):
    changed: bool
    marketing_consent: bool
    consent_updated_at: datetime | None


class NoteIn(In):
    text: str = Field(max_length=2000)


class EventOut(Schema):
    id: int
    type: str
    store_id: int | None
    occurred_at: datetime
    payload: dict[str, Any]


class EventPage(Schema):
    count: int
    items: list[EventOut]


# --- tags ------------------------------------------------------------------------------------


class TagOut(Schema):
    id: int
    group: str
    name: str
    rule: dict[str, Any] | None
    is_rule_based: bool
    recomputed_at: datetime | None
    created_at: datetime


class TagPage(Schema):
    count: int
    items: list[TagOut]


class TagCreateIn(In):
    group: str = Field(max_length=50)
    name: str = Field(max_length=50)
    rule: dict[str, Any] | None = None


class RecomputeOut(Schema):
    added: int
    removed: int
    total: int


# --- imports ---------------------------------------------------------------------------------


class ImportOut(Schema):
    id: int
    file_name: str
    status: str
    row_count: int
    created_count: int
    updated_count: int
    errors: list[Any]
    created_at: datetime


class ImportPage(Schema):
    count: int
    items: list[ImportOut]


# --- tokens ----------------------------------------------------------------------------------


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenPage(Schema):
    count: int
    items: list[TokenOut]


class TokenCreateIn(In):
    name: str = Field(max_length=100)


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The secret. Shown only in this response; store it now.")


# --- communities -----------------------------------------------------------------------------


class Ref(Schema):
    id: int
    name: str


class CommunityOut(Schema):
    id: int
    name: str
    store: StoreRef
    template: Ref | None
    channel: str
    theme: str
    status: str
    member_count: int
    recommended_size: int
    hard_cap: int
    external_id: str
    created_at: datetime


class CommunityDetailOut(CommunityOut):
    audience: dict[str, Any] | None
    rules_text: str
    welcome_template: str
    announcement: str
    activity: list[int] = Field(
        description="Activity per day over the last 14 days, oldest first: the events of `activity_signals`."
    )
    activity_signals: list[str] = Field(
        description="What `activity` counts for this group's channel: `messages` and `orders` where Siyu "
        "reads messages; `joins`, `orders` and `link_opens` where it cannot (WeCom); more when a capability "
        "adds one (e.g. check-ins)."
    )


class CommunityPage(Schema):
    count: int
    items: list[CommunityOut]


class CommunityMemberOut(Schema):
    membership_id: int
    member_id: int | None
    staff_id: int | None
    name: str
    mobile: str = Field(description="Always masked.")
    role: str
    scene: str
    joined_at: datetime
    muted_until: datetime | None


class CommunityMemberPage(Schema):
    count: int
    items: list[CommunityMemberOut]


class MessageOut(Schema):
    id: int
    sender_kind: str
    kind: str
    text: str
    member: Ref | None
    staff: Ref | None
    image_url: str | None
    card: dict[str, Any]
    hidden: bool
    created_at: datetime


class MessagePage(Schema):
    count: int
    items: list[MessageOut]


class MessageIn(In):
    text: str = Field(min_length=1, max_length=2000)
    announce: bool = Field(
        False, description="Post as the group's announcement (robot) instead of as yourself."
    )


class ScheduledPostIn(In):
    text: str = Field(min_length=1, max_length=2000)
    run_at: datetime = Field(description="When to post; must be in the future.")


class ScheduledPostOut(Schema):
    id: int
    community_id: int
    text: str
    run_at: datetime
    created_by: str
    sent_at: datetime | None
    message_id: int | None
    error: str


class ModerationActionOut(Schema):
    id: int
    community_id: int
    member: Ref
    rule: str
    action: str
    reason: str
    message_id: int | None
    actor: str | None = Field(description="Staff who acted; null for the robot.")
    created_at: datetime
    overridden: bool
    overridden_by: str | None
    overridden_at: datetime | None
    override_note: str


class ModerationActionPage(Schema):
    count: int
    items: list[ModerationActionOut]


class OverrideIn(In):
    note: str = Field("", max_length=255)


class JoinRequestMemberOut(Schema):
    id: int
    name: str
    mobile: str = Field(description="Always masked.")


class JoinRequestOut(Schema):
    id: int
    live_code_id: int
    store: StoreRef
    template: Ref
    member: JoinRequestMemberOut
    answers: dict[str, Any]
    order_number: str
    status: str
    reason: str
    community_id: int | None
    created_at: datetime
    reviewed_at: datetime | None
    reviewed_by: str | None


class JoinRequestPage(Schema):
    count: int
    items: list[JoinRequestOut]


class JoinRequestReviewIn(In):
    decision: str = Field(description="approve or reject.", max_length=10)
    reason: str = Field("", max_length=200)


class LiveCodeOut(Schema):
    id: int
    name: str
    store: StoreRef
    template: Ref
    staff: Ref | None
    channel: str
    active: bool
    join_url: str
    qr_url: str
    poster_url: str
    created_at: datetime


class LiveCodePage(Schema):
    count: int
    items: list[LiveCodeOut]


class LiveCodeCreateIn(In):
    store_id: Id
    template_id: Id
    staff_id: Id | None = Field(None, description="A staff member of the store, for a personal code.")
    channel: ChannelName = Field("web", description="web, wecom or telegram.")
    connector_id: Id | None = Field(None, description="The channel account, for wecom and telegram.")


class GroupTemplateOut(Schema):
    id: int
    name: str
    theme: str
    base_name: str
    audience: dict[str, Any] | None
    recommended_size: int
    rules_text: str
    welcome_template: str
    threshold: str
    questionnaire: list[Any]
    active: bool
    created_at: datetime


class GroupTemplatePage(Schema):
    count: int
    items: list[GroupTemplateOut]


class GroupTemplateCreateIn(In):
    name: str = Field(max_length=60)
    theme: str = Field("general", max_length=16)
    base_name: str = Field(max_length=30)
    audience: dict[str, Any] | None = None
    recommended_size: int = Field(200, ge=2, le=200_000)
    rules_text: str = Field("", max_length=5000)
    welcome_template: str = Field("", max_length=2000)
    threshold: str = Field("none", max_length=16)
    questionnaire: list[Any] = []


class TaskOut(Schema):
    id: int
    store: StoreRef
    community: Ref | None
    kind: str
    title: str
    payload: dict[str, Any]
    assignee: str | None
    status: str
    created_at: datetime
    done_at: datetime | None
    done_by: str | None


class TaskPage(Schema):
    count: int
    items: list[TaskOut]


class OutboxOut(Schema):
    id: int
    connector: Ref
    channel: str
    community: Ref | None
    action: str
    status: str
    attempts: int
    last_error: str
    created_at: datetime
    next_attempt_at: datetime


class OutboxPage(Schema):
    count: int
    items: list[OutboxOut]


class GroupPlanItemOut(Schema):
    template_id: int
    template_name: str
    recommended_size: int
    audience_count: int
    in_groups: int
    fit_count: int
    existing_groups: int
    groups_with_room: int
    proposed: int


class GroupPlanOut(Schema):
    store: StoreRef
    channel: str
    items: list[GroupPlanItemOut]


class GroupPlanAcceptIn(In):
    template_id: Id
    channel: ChannelName = Field("web", description="web, wecom or telegram.")
    connector_id: Id | None = Field(None, description="The channel account, for wecom and telegram.")


class GroupPlanAcceptOut(Schema):
    opened: list[CommunityOut]
