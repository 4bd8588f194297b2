"""Bulk set-up of groups with a history (demo chains, benchmarks): templates, live codes, web groups,
memberships and messages written in a few inserts.

No person acts, so these skip the capability checks and audit of ``matrix``/``livecodes``/``joining``;
the invariants those services keep still hold here: ``member_count`` equals the group's active member
memberships (and the database refuses a count above the hard cap), every group, template and live code
belongs to one brand, and a chat's id order is its time order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from siyu.channels.models import Connector
from siyu.common.errors import ValidationFailed
from siyu.communities.models import (
    Community,
    CommunityMembership,
    GroupTemplate,
    LiveCode,
    Message,
    ModerationAction,
)
from siyu.org.models import Brand, Store

BATCH = 2000


def create_template_as_system(
    brand: Brand,
    *,
    name: str,
    theme: str,
    base_name: str,
    audience: dict[str, Any] | None,
    recommended_size: int,
    rules_text: str,
    welcome_template: str,
) -> GroupTemplate:
    """Create a group template of ``brand`` (no actor). IntegrityError when the name is taken."""
    return GroupTemplate.objects.create(
        brand=brand,
        name=name,
        theme=theme,
        base_name=base_name,
        audience=audience,
        recommended_size=recommended_size,
        rules_text=rules_text,
        welcome_template=welcome_template,
    )


def _check_brand(brand: Brand, store: Store, template: GroupTemplate) -> None:
    if store.brand_id != brand.pk or template.brand_id != brand.pk:
        raise ValidationFailed(_("Store and template must belong to the brand."), field="store")


def create_live_code_as_system(brand: Brand, store: Store, template: GroupTemplate, *, name: str) -> LiveCode:
    """A live code of ``store`` routing into ``template``'s groups (no actor, no fixed staff).
    ValidationFailed when the store or template is another brand's."""
    _check_brand(brand, store, template)
    return LiveCode.objects.create(brand=brand, store=store, template=template, name=name)


def open_web_group_as_system(
    brand: Brand,
    store: Store,
    template: GroupTemplate,
    *,
    name: str,
    sequence: int,
    announcement: str,
    created_at: datetime,
) -> Community:
    """Open web group number ``sequence`` of ``template`` in ``store`` (empty; settings copied from the
    template), dated ``created_at``. ValidationFailed when the store or template is another brand's;
    IntegrityError when that sequence number is taken."""
    _check_brand(brand, store, template)
    return Community.objects.create(
        brand=brand,
        store=store,
        template=template,
        name=name,
        theme=template.theme,
        audience=template.audience,
        sequence=sequence,
        recommended_size=template.recommended_size,
        rules_text=template.rules_text,
        welcome_template=template.welcome_template,
        announcement=announcement,
        created_at=created_at,
    )


def open_channel_group_as_system(
    brand: Brand,
    store: Store,
    *,
    connector: Connector,
    external_id: str,
    name: str,
    hard_cap: int,
    created_at: datetime,
) -> Community:
    """A group of ``store`` that already exists on ``connector``'s channel as chat ``external_id`` (empty,
    dated ``created_at``). ValidationFailed when the store or connector is another brand's."""
    if store.brand_id != brand.pk or connector.brand_id != brand.pk:
        raise ValidationFailed(_("The store, template and brand do not match."), field="store")
    return Community.objects.create(
        brand=brand,
        store=store,
        channel=connector.kind,
        connector=connector,
        external_id=external_id,
        name=name,
        hard_cap=hard_cap,
        created_at=created_at,
    )


@transaction.atomic
def bulk_add_memberships(memberships: Sequence[CommunityMembership]) -> int:
    """Insert unsaved memberships (members or staff) of saved groups; returns how many.

    Guarantees: afterwards each group's ``member_count`` is its number of active member memberships (the
    database refuses one above the hard cap: IntegrityError, nothing written); a member is in a group once
    (IntegrityError otherwise).
    """
    CommunityMembership.objects.bulk_create(list(memberships), batch_size=BATCH)
    community_ids = {m.community_id for m in memberships}
    active = (
        CommunityMembership.objects.filter(
            community=OuterRef("pk"), status=CommunityMembership.Status.ACTIVE, member__isnull=False
        )
        .order_by()
        .values("community")
        .annotate(n=Count("id"))
        .values("n")
    )
    Community.objects.filter(pk__in=community_ids).update(member_count=Coalesce(Subquery(active), Value(0)))
    return len(memberships)


@transaction.atomic
def bulk_add_messages(messages: Sequence[Message]) -> int:
    """Insert unsaved messages of saved groups, each group's in time order (chats are read in id order, so
    the history reads naturally); returns how many."""
    ordered = sorted(messages, key=lambda m: (m.community_id, m.created_at))
    Message.objects.bulk_create(ordered, batch_size=BATCH)
    return len(ordered)


@transaction.atomic
def record_caught_message(
    community: Community, member_id: int, *, text: str, rule: str, reason: str, notice: str, at: datetime
) -> Message:
    """A member's message the robot caught at ``at``: kept hidden, a ``warn`` moderation action pointing at
    it, and the robot's notice in the group two seconds later. Returns the hidden message."""
    message = Message.objects.create(
        community=community, member_id=member_id, text=text, hidden=True, created_at=at
    )
    ModerationAction.objects.create(
        community=community,
        member_id=member_id,
        rule=rule,
        message=message,
        action=ModerationAction.Kind.WARN,
        reason=reason,
        created_at=at,
    )
    Message.objects.create(
        community=community,
        sender_kind=Message.SenderKind.ROBOT,
        text=notice,
        created_at=at + timedelta(seconds=2),
    )
    return message
