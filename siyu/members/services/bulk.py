"""Bulk writes of members and what hangs off them (demo chains, benchmarks): thousands of rows at once.

No person acts here, so there is no capability check or audit line per row (``imports.import_members`` is
the path for a real member file); the rules the data needs still hold and everything is all or nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict, ValidationFailed
from siyu.members.models import ConsentRecord, Member, MemberNote, MemberTag, Tag, TagGroup
from siyu.members.services.public_profile import clean_avatar, clean_nickname
from siyu.members.services.signin import SESSION_KEY
from siyu.members.services.tags import validate_rule
from siyu.org.models import Brand, Store

BATCH = 2000


def _check_consent_history(members: Sequence[Member], records: Sequence[ConsentRecord]) -> None:
    latest: dict[int, ConsentRecord] = {}
    for record in records:
        key = id(record.member)
        if key not in latest or record.occurred_at >= latest[key].occurred_at:
            latest[key] = record
    for member in members:
        last = latest.get(id(member))
        granted = last is not None and last.action == ConsentRecord.Action.GRANTED
        if member.marketing_consent != granted:
            raise ValidationFailed(
                _("A member's marketing consent must match its latest consent record."), field="consent"
            )


@transaction.atomic
def bulk_add_members(
    brand: Brand, members: Sequence[Member], *, consent_records: Sequence[ConsentRecord] = ()
) -> list[Member]:
    """Insert unsaved ``members`` of ``brand`` (in the order given) with their consent history.

    ``consent_records`` refer to members of ``members`` (by instance). Returns the members with their ids.
    Guarantees: every member belongs to ``brand`` and has a home store of ``brand`` (or none); a member's
    ``marketing_consent`` is what its latest consent record says (no record: no consent), else
    ValidationFailed on ``consent``; nothing is written when a mobile number appears twice or is already a
    member's (Conflict on ``members``).
    """
    store_ids = {m.home_store_id for m in members if m.home_store_id is not None}
    if store_ids and Store.objects.filter(pk__in=store_ids).exclude(brand=brand).exists():
        raise Conflict(_("A home store of another brand was given."), field="members")
    mobiles = [m.mobile for m in members if m.mobile]
    if len(set(mobiles)) != len(mobiles):
        raise Conflict(_("A mobile number appears twice."), field="members")
    for start in range(0, len(mobiles), BATCH):
        taken = Member.objects.filter(mobile__in=mobiles[start : start + BATCH]).values_list(
            "mobile", flat=True
        )
        first = next(iter(taken), None)
        if first is not None:
            raise Conflict(
                _("The mobile number %(mobile)s is already a member's.") % {"mobile": first}, field="members"
            )
    _check_consent_history(members, consent_records)
    for member in members:
        if member.nickname and clean_nickname(member.nickname) != member.nickname:
            raise ValidationFailed(_("A nickname breaks the nickname rules."), field="nickname")
    for member in members:
        member.brand = brand
    created = Member.objects.bulk_create(list(members), batch_size=BATCH)
    ConsentRecord.objects.bulk_create(list(consent_records), batch_size=BATCH)
    return created


@transaction.atomic
def bulk_add_notes(notes: Sequence[MemberNote]) -> list[MemberNote]:
    """Insert staff notes on saved members, each dated at its own ``created_at`` (history is kept as given,
    not stamped with now). Returns the saved notes."""
    dated = [n.created_at for n in notes]
    created = MemberNote.objects.bulk_create(list(notes), batch_size=BATCH)
    # created_at is auto_now_add (set to now on insert); put the notes back at their moment in history.
    for note, at in zip(created, dated, strict=True):
        note.created_at = at
    MemberNote.objects.bulk_update(created, ["created_at"], batch_size=500)
    return created


@transaction.atomic
def create_tag_group(
    brand: Brand, group: str, names: Sequence[str], *, rule: dict[str, Any] | None = None
) -> dict[str, Tag]:
    """Create ``brand``'s tag group ``group`` with the tags ``names`` (all rule-based on ``rule`` when
    given, which must pass ``tags.validate_rule``); returns the tags by name. IntegrityError when the group
    exists. Rule tags are filled by ``tags.recompute_rule_tag``."""
    clean_rule = validate_rule(rule) if rule is not None else None
    tag_group = TagGroup.objects.create(brand=brand, name=group)
    return {name: Tag.objects.create(group=tag_group, name=name, rule=clean_rule) for name in names}


@transaction.atomic
def bulk_tag_members(rows: Sequence[MemberTag]) -> int:
    """Insert member tags (saved members and tags of one brand, each pair once); returns how many.
    Guarantees: a member is tagged only with its own brand's tags (ValidationFailed on ``tags``)."""
    tag_ids = {r.tag_id for r in rows}
    brands = set(Tag.objects.filter(pk__in=tag_ids).values_list("group__brand_id", flat=True))
    member_field = MemberTag._meta.get_field("member")
    member_brands = {r.member.brand_id for r in rows if member_field.is_cached(r)}
    uncached = sorted({r.member_id for r in rows if not member_field.is_cached(r)})
    for start in range(0, len(uncached), BATCH):
        ids = uncached[start : start + BATCH]
        member_brands.update(Member.objects.filter(pk__in=ids).values_list("brand_id", flat=True).distinct())
    if len(brands) > 1 or not member_brands <= brands:
        raise ValidationFailed(_("Tags and members must belong to one brand."), field="tags")
    MemberTag.objects.bulk_create(list(rows), batch_size=BATCH)
    return len(rows)


@transaction.atomic
def bulk_set_avatars(avatars: Sequence[tuple[int, bytes]]) -> int:
    """Give members (by id) an avatar each from picture bytes, stored as ``public_profile.set_avatar``
    stores them (160 px JPEG, random name). Members that were erased or already have one are skipped.
    Returns how many were set."""
    wanted = dict(avatars)
    members = list(Member.objects.filter(pk__in=wanted, erased_at__isnull=True, avatar=""))
    for member in members:
        member.avatar.save(
            f"{uuid.uuid4().hex}.jpg", ContentFile(clean_avatar(wanted[member.pk])), save=False
        )
    Member.objects.bulk_update(members, ["avatar"], batch_size=BATCH)
    return len(members)


def signed_in_sessions(member_ids: Sequence[int]) -> list[str]:
    """One signed-in member session per id (session keys, in order), written in bulk for the database session
    engine and one by one for any other — for load tests that act as many members at once."""
    engine = import_module(settings.SESSION_ENGINE)
    store_class = engine.SessionStore
    if settings.SESSION_ENGINE == "django.contrib.sessions.backends.db":
        expire = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)
        keys = [get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789") for _ in member_ids]
        encoder = store_class()
        Session.objects.bulk_create(
            [
                Session(session_key=key, session_data=encoder.encode({SESSION_KEY: pk}), expire_date=expire)
                for key, pk in zip(keys, member_ids, strict=True)
            ],
            batch_size=BATCH,
        )
        return keys
    out = []
    for pk in member_ids:
        session = store_class()
        session[SESSION_KEY] = pk
        session.create()
        out.append(str(session.session_key))
    return out
