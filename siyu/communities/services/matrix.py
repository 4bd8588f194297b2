"""The group matrix: HQ group templates, the groups each store opens from them, and the planner.

Every group of one template at one store has the template's audience, so groups are homogeneous by
construction; a store's set of groups for a template is numbered 1, 2, 3… (``Community.sequence``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.utils.translation import gettext as _

from siyu.channels.models import ChannelKind, Connector
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.validators import parse_id
from siyu.communities.models import Community, CommunityMembership, GroupTemplate, StaffTask, Theme
from siyu.communities.models.groups import CHANNEL_HARD_CAP, DEFAULT_RECOMMENDED_SIZE
from siyu.communities.services import wecom_welcome
from siyu.members.models import Member
from siyu.members.services.tags import rule_queryset, validate_rule
from siyu.org.models import Role, Staff, Store
from siyu.org.services.access import check_capability, require_staff
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id
from siyu.org.services.stores import get_store

MAX_RECOMMENDED_SIZE = CHANNEL_HARD_CAP[ChannelKind.WEB]
MAX_GROUPS_PER_CALL = 20
MAX_QUESTIONS = 10
_AUDITED_VALUES = frozenset({"name", "audience", "theme", "active", "recommended_size", "threshold"})
TEMPLATE_FIELDS = {
    "name",
    "theme",
    "base_name",
    "audience",
    "recommended_size",
    "rules_text",
    "welcome_template",
    "threshold",
    "questionnaire",
    "active",
}


# --- templates --------------------------------------------------------------------------------


def _require_hq(staff: Staff) -> None:
    check_capability(staff, "communities.manage", message=_("Only head office can manage group templates."))


def normalize_questionnaire(raw: Any) -> list[dict[str, Any]]:
    """The questionnaire as a list of ``{"key", "question", "required", "choices"}``; raises
    ValidationFailed(field="questionnaire") for a malformed one. Plain strings are accepted as questions."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise ValidationFailed(_("The questionnaire must be a list of questions."), field="questionnaire")
    if len(raw) > MAX_QUESTIONS:
        raise ValidationFailed(
            _("A questionnaire has at most %(n)s questions.") % {"n": MAX_QUESTIONS}, field="questionnaire"
        )
    questions: list[dict[str, Any]] = []
    for index, item in enumerate(raw, start=1):
        if isinstance(item, str):
            item = {"question": item}
        if not isinstance(item, dict):
            raise ValidationFailed(_("Each question must be a text or an object."), field="questionnaire")
        text = str(item.get("question") or item.get("label") or item.get("text") or "").strip()
        if not text or len(text) > 200:
            raise ValidationFailed(
                _("Each question needs a text of 200 characters at most."), field="questionnaire"
            )
        key = str(item.get("key") or f"q{index}").strip()[:30]
        choices = item.get("choices") or []
        if not isinstance(choices, list) or not all(isinstance(c, str) and c.strip() for c in choices):
            raise ValidationFailed(_("Choices must be a list of texts."), field="questionnaire")
        questions.append(
            {
                "key": key,
                "question": text,
                "required": bool(item.get("required", True)),
                "choices": [c.strip() for c in choices],
            }
        )
    if len({q["key"] for q in questions}) != len(questions):
        raise ValidationFailed(_("Two questions have the same key."), field="questionnaire")
    return questions


def _clean_text(data: dict[str, Any], field: str, max_length: int, *, required: bool = False) -> str:
    value = str(data.get(field) or "").strip()
    if required and not value:
        raise ValidationFailed(_("This field is required."), field=field)
    if len(value) > max_length:
        raise ValidationFailed(_("Too long (%(n)s characters at most).") % {"n": max_length}, field=field)
    return value


@transaction.atomic
def create_group_template(staff: Staff, data: dict[str, Any]) -> GroupTemplate:
    """Create an HQ group template (head office roles only; PermissionDenied otherwise).

    Guarantees: ``audience`` is a valid tag rule (``siyu.members.services.tags.validate_rule``) or empty for
    everyone; names are unique per brand (Conflict); recommended size 2…2000 (clamped to each channel's hard
    cap when groups open); a questionnaire threshold needs at least one question; audited.
    """
    _require_hq(staff)
    unknown = set(data) - TEMPLATE_FIELDS
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    name = _clean_text(data, "name", 60, required=True)
    base_name = _clean_text(data, "base_name", 30) or name[:30]
    theme = data.get("theme") or Theme.GENERAL
    if theme not in Theme.values:
        raise ValidationFailed(_("Unknown theme."), field="theme")
    audience = _clean_audience(data.get("audience"))
    size = _clean_size(data.get("recommended_size", DEFAULT_RECOMMENDED_SIZE))
    threshold = data.get("threshold") or GroupTemplate.Threshold.NONE
    if threshold not in GroupTemplate.Threshold.values:
        raise ValidationFailed(_("Unknown entry threshold."), field="threshold")
    questionnaire = normalize_questionnaire(data.get("questionnaire"))
    if threshold == GroupTemplate.Threshold.QUESTIONNAIRE and not questionnaire:
        raise ValidationFailed(_("Add at least one question."), field="questionnaire")
    brand_id = current_brand_id(staff)
    if GroupTemplate.objects.filter(brand_id=brand_id, name=name).exists():
        raise Conflict(_("A group template with this name already exists."), field="name")
    template = GroupTemplate.objects.create(
        brand_id=brand_id,
        name=name,
        base_name=base_name,
        theme=theme,
        audience=audience,
        recommended_size=size,
        rules_text=_clean_text(data, "rules_text", 2000),
        welcome_template=_clean_text(data, "welcome_template", 1000),
        threshold=threshold,
        questionnaire=questionnaire,
        active=bool(data.get("active", True)),
    )
    wecom_welcome.request_syncs(template)  # the WeCom group welcome template of each WeCom app
    record_audit(
        staff,
        "group_template.create",
        target_type="group_template",
        target_id=template.pk,
        detail={"name": name, "audience": audience, "recommended_size": size, "threshold": threshold},
    )
    return template


def _clean_audience(raw: Any) -> dict[str, Any] | None:
    try:
        return validate_rule(raw)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, field="audience") from None


def _clean_size(raw: Any) -> int:
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise ValidationFailed(_("Recommended size must be a number."), field="recommended_size") from None
    if isinstance(raw, bool) or not 2 <= size <= MAX_RECOMMENDED_SIZE:
        raise ValidationFailed(
            _("Recommended size must be between 2 and %(max)s.") % {"max": MAX_RECOMMENDED_SIZE},
            field="recommended_size",
        )
    return size


@transaction.atomic
def update_group_template(staff: Staff, template_id: Any, data: dict[str, Any]) -> GroupTemplate:
    """Change an HQ group template (head office roles only), with the same rules as
    ``create_group_template`` for each field given. Existing groups keep their members; the new audience
    applies to the plan and to who may join from now on. An unchanged request writes nothing; a change is
    audited with the changed field names.
    """
    _require_hq(staff)
    unknown = set(data) - TEMPLATE_FIELDS
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    brand_id = current_brand_id(staff)
    template = get_template(template_id, brand_id=brand_id, active_only=False)
    template = GroupTemplate.objects.select_for_update().get(pk=template.pk)
    clean: dict[str, Any] = {}
    if "name" in data:
        clean["name"] = _clean_text(data, "name", 60, required=True)
        if (
            GroupTemplate.objects.filter(brand_id=brand_id, name=clean["name"])
            .exclude(pk=template.pk)
            .exists()
        ):
            raise Conflict(_("A group template with this name already exists."), field="name")
    if "base_name" in data:
        clean["base_name"] = _clean_text(data, "base_name", 30) or str(clean.get("name", template.name))[:30]
    if "theme" in data:
        if data["theme"] not in Theme.values:
            raise ValidationFailed(_("Unknown theme."), field="theme")
        clean["theme"] = data["theme"]
    if "audience" in data:
        clean["audience"] = _clean_audience(data["audience"])
    if "recommended_size" in data:
        clean["recommended_size"] = _clean_size(data["recommended_size"])
    if "rules_text" in data:
        clean["rules_text"] = _clean_text(data, "rules_text", 2000)
    if "welcome_template" in data:
        clean["welcome_template"] = _clean_text(data, "welcome_template", 1000)
    if "threshold" in data:
        if data["threshold"] not in GroupTemplate.Threshold.values:
            raise ValidationFailed(_("Unknown entry threshold."), field="threshold")
        clean["threshold"] = data["threshold"]
    if "questionnaire" in data:
        clean["questionnaire"] = normalize_questionnaire(data["questionnaire"])
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise ValidationFailed(_("Must be true or false."), field="active")
        clean["active"] = data["active"]
    threshold = clean.get("threshold", template.threshold)
    if threshold == GroupTemplate.Threshold.QUESTIONNAIRE and not clean.get(
        "questionnaire", template.questionnaire
    ):
        raise ValidationFailed(_("Add at least one question."), field="questionnaire")
    changed = {k: v for k, v in clean.items() if getattr(template, k) != v}
    if not changed:
        return template
    for key, value in changed.items():
        setattr(template, key, value)
    template.save(update_fields=list(changed))
    if wecom_welcome.SYNCED_FIELDS & set(changed):
        wecom_welcome.request_syncs(template)
    record_audit(
        staff,
        "group_template.update",
        target_type="group_template",
        target_id=template.pk,
        # The audience and names are kept in full; long texts only as "changed".
        detail={"changes": {k: changed[k] if k in _AUDITED_VALUES else True for k in sorted(changed)}},
    )
    return template


def get_template(template_id: Any, *, brand_id: int | None = None, active_only: bool = True) -> GroupTemplate:
    """The group template with ``template_id`` (of ``brand_id`` when given); NotFound otherwise."""
    pk = parse_id(template_id, "template", _("No such group template."))
    qs = GroupTemplate.objects.filter(pk=pk)
    if brand_id is not None:
        qs = qs.filter(brand_id=brand_id)
    if active_only:
        qs = qs.filter(active=True)
    template = qs.first()
    if template is None:
        raise NotFound(_("No such group template."), field="template")
    return template


def resolve_connector(channel: str, connector_id: Any, brand_id: int) -> Connector | None:
    """The connector for groups on ``channel``: none for the built-in web channel, an active connector of
    that kind otherwise (ValidationFailed when missing or of another kind)."""
    if channel not in ChannelKind.values:
        raise ValidationFailed(_("Unknown channel."), field="channel")
    if channel == ChannelKind.WEB:
        if connector_id not in (None, ""):
            raise ValidationFailed(_("The web channel needs no connector."), field="connector")
        return None
    try:
        pk = parse_id(connector_id, "connector")
    except NotFound:
        raise ValidationFailed(_("Choose the channel account."), field="connector") from None
    connector = Connector.objects.filter(pk=pk, brand_id=brand_id, kind=channel, active=True).first()
    if connector is None:
        raise ValidationFailed(_("No such channel account."), field="connector")
    return connector


# --- opening groups ---------------------------------------------------------------------------


def channel_creates_groups(channel: str) -> bool:
    """Whether Siyu itself can create a group on ``channel``. Only the built-in web channel can: WeCom
    has no API to create customer groups and Telegram bots cannot create groups, so staff do it by hand."""
    return channel == ChannelKind.WEB


def _next_sequence(store_id: int, template_id: int, channel: str) -> int:
    top = Community.objects.filter(store_id=store_id, template_id=template_id, channel=channel).aggregate(
        m=Max("sequence")
    )["m"]
    return (top or 0) + 1


def _task_assignee(store: Store, preferred: Staff | None) -> Staff | None:
    if preferred is not None and preferred.is_active:
        return preferred
    return Staff.objects.filter(stores=store, role=Role.STORE_MANAGER, is_active=True).order_by("id").first()


def open_group(
    store: Store,
    template: GroupTemplate,
    channel: str,
    connector: Connector | None,
    *,
    assignee: Staff | None = None,
    live_code_id: int | None = None,
) -> Community:
    """Open the next group of ``template``'s set at ``store`` on ``channel``, named
    ``<store name>·<base name><n>``. Call inside a transaction.

    Guarantees: the sequence is the set's next one and never duplicated (a unique constraint decides a
    race; the loser retries with the next number); on the web channel the group is open at once; on a
    channel where groups cannot be created by API it is ``pending`` and a ``create_group`` StaffTask is
    opened for the store's staff (``assignee``, else a store manager). Sizes come from the template,
    clamped to the channel's hard cap.
    """
    hard_cap = CHANNEL_HARD_CAP[ChannelKind(channel)]
    creates = channel_creates_groups(channel)
    for _attempt in range(5):
        sequence = _next_sequence(store.pk, template.pk, channel)
        try:
            with transaction.atomic():
                community = Community.objects.create(
                    brand_id=store.brand_id,
                    store=store,
                    template=template,
                    channel=channel,
                    connector=connector,
                    name=f"{store.name}·{template.base_name}{sequence}"[:80],
                    theme=template.theme,
                    audience=template.audience,
                    sequence=sequence,
                    recommended_size=min(template.recommended_size, hard_cap),
                    hard_cap=hard_cap,
                    rules_text=template.rules_text,
                    welcome_template=template.welcome_template,
                    status=Community.Status.OPEN if creates else Community.Status.PENDING,
                )
            break
        except IntegrityError:
            continue  # another transaction took this sequence number: take the next one
    else:
        raise Conflict(_("Could not open a new group. Please try again."), field="community")
    if not creates:
        StaffTask.objects.create(
            store=store,
            community=community,
            kind=StaffTask.Kind.CREATE_GROUP,
            title=_("Create the group %(name)s in %(channel)s")
            % {"name": community.name, "channel": ChannelKind(channel).label},
            payload={
                "community_id": community.pk,
                "name": community.name,
                "channel": channel,
                "connector_id": connector.pk if connector is not None else None,
                "live_code_id": live_code_id,
                "rules_text": community.rules_text,
            },
            assignee=_task_assignee(store, assignee),
        )
    return community


def instantiate_template(
    staff: Staff,
    *,
    store_id: Any,
    template_id: Any,
    count: int = 1,
    channel: str = "web",
    connector_id: Any = None,
) -> list[Community]:
    """Open ``count`` (1…20) new groups of a template for a store in ``staff``'s scope.

    Guarantees: all or nothing; numbering continues the store's set; web groups open at once, WeCom and
    Telegram groups are pending with a StaffTask each (see ``open_group``); audited.
    """
    require_staff(staff)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_GROUPS_PER_CALL:
        raise ValidationFailed(
            _("Open between 1 and %(max)s groups at a time.") % {"max": MAX_GROUPS_PER_CALL}, field="count"
        )
    with transaction.atomic():
        store = get_store(staff, store_id)
        template = get_template(template_id, brand_id=store.brand_id)
        connector = resolve_connector(channel, connector_id, store.brand_id)
        groups = [open_group(store, template, channel, connector) for _i in range(count)]
        record_audit(
            staff,
            "community.open",
            target_type="group_template",
            target_id=template.pk,
            store_id=store.pk,
            detail={"channel": channel, "communities": [g.pk for g in groups]},
        )
    return groups


# --- the planner ------------------------------------------------------------------------------


@dataclass
class PlanItem:
    """What the planner proposes for one template at one store."""

    template_id: int
    template_name: str
    recommended_size: int
    audience_count: int  # the store's members matching the template's audience
    in_groups: int  # of them, already in a group of this template at the store
    fit_count: int  # matching and not yet in a group: the members to place
    existing_groups: int  # open or pending groups of the template at the store
    groups_with_room: int  # of them, below the recommended size (pending ones count: they are empty)
    proposed: int  # groups to open: ceil(fit / size) - groups with room, never below zero


def _audience_members(template: GroupTemplate, store_id: int) -> QuerySet[Member]:
    base = (
        rule_queryset(template.audience)
        if template.audience
        else Member.objects.filter(erased_at__isnull=True)
    )
    return base.filter(home_store_id=store_id)


def _plan_item(template: GroupTemplate, store_id: int, channel: str) -> PlanItem:
    size = min(template.recommended_size, CHANNEL_HARD_CAP[ChannelKind(channel)])
    audience = _audience_members(template, store_id)
    groups = Community.objects.filter(
        store_id=store_id,
        template=template,
        status__in=[Community.Status.OPEN, Community.Status.PENDING],
    )
    in_group_ids = CommunityMembership.objects.filter(
        community__store_id=store_id,
        community__template=template,
        status=CommunityMembership.Status.ACTIVE,
        member__isnull=False,
    ).values("member_id")
    audience_count = audience.count()
    in_groups = audience.filter(pk__in=in_group_ids).count()
    fit = audience_count - in_groups
    existing = groups.count()
    with_room = sum(
        1
        for count, recommended, status in groups.values_list("member_count", "recommended_size", "status")
        if status == Community.Status.PENDING or count < recommended
    )
    return PlanItem(
        template_id=template.pk,
        template_name=template.name,
        recommended_size=size,
        audience_count=audience_count,
        in_groups=in_groups,
        fit_count=fit,
        existing_groups=existing,
        groups_with_room=with_room,
        proposed=max(0, math.ceil(fit / size) - with_room),
    )


def plan_store_groups(staff: Staff, store_id: Any, *, channel: str = "web") -> list[PlanItem]:
    """For each active template, how many of the store's members fit its audience and are in no group of
    it yet, and how many groups to open for them (ceil(fit / recommended size) minus groups with room).
    Read-only; store-scoped (NotFound outside the scope, like a missing store)."""
    require_staff(staff)
    store = get_store(staff, store_id)
    if channel not in ChannelKind.values:
        raise ValidationFailed(_("Unknown channel."), field="channel")
    templates = GroupTemplate.objects.filter(brand_id=store.brand_id, active=True).order_by("id")
    return [_plan_item(t, store.pk, channel) for t in templates]


def accept_plan(
    staff: Staff, store_id: Any, template_id: Any, *, channel: str = "web", connector_id: Any = None
) -> list[Community]:
    """Open the groups the planner proposes for one template at one store (none if it proposes none).

    Guarantees: an unknown ``channel`` is ValidationFailed(field="channel") before anything is read; the plan
    is recomputed at acceptance, so accepting twice does not open twice the groups; then as
    ``instantiate_template``.
    """
    require_staff(staff)
    if channel not in ChannelKind.values:
        raise ValidationFailed(_("Unknown channel."), field="channel")
    with transaction.atomic():
        store = get_store(staff, store_id)
        template = get_template(template_id, brand_id=store.brand_id)
        item = _plan_item(template, store.pk, channel)
        if item.proposed == 0:
            return []
        groups: list[Community] = []
        remaining = item.proposed
        while remaining:
            batch = min(remaining, MAX_GROUPS_PER_CALL)
            groups += instantiate_template(
                staff,
                store_id=store.pk,
                template_id=template.pk,
                count=batch,
                channel=channel,
                connector_id=connector_id,
            )
            remaining -= batch
    return groups
