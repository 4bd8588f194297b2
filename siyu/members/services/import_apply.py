"""Applying checked member rows: the database checks (stores, scope, existing members, tags), then every
write in bulk statements — members upserted by mobile number, tags created and linked, events recorded.
Runs inside the caller's transaction; a row found wrong here raises ``Rejected`` before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.models import Event
from siyu.analytics.services.events import bulk_record_events
from siyu.members.models import Gender, Member, MemberTag, Source, Tag, TagGroup
from siyu.members.services.import_rows import ImportRow, RowErrors
from siyu.members.services.profiles import age_band_for
from siyu.org.models import Staff, Store
from siyu.org.services.access import has_capability, store_scope

# Bare tag names (no "group/") that do not exist yet are created in this group. Stored data, not UI text.
IMPORT_TAG_GROUP = "导入"
BATCH_SIZE = 1000
# Keeps IN (...) lists under SQLite's bound-parameter limit.
LOOKUP_CHUNK = 900


class Rejected(Exception):
    """A row was found wrong against the database; nothing was written. Carries the error report."""

    def __init__(self, errors: list[dict[str, Any]], row_count: int) -> None:
        super().__init__("rejected")
        self.errors = errors
        self.row_count = row_count


def _chunks(items: list[Any], size: int = LOOKUP_CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Outcome:
    """What applying a file changed, for the import record and its audit entry."""

    created: int = 0
    updated: int = 0
    tags_added: int = 0
    tags_created: int = 0
    new_tags: list[str] = field(default_factory=list)
    store_ids: set[int] = field(default_factory=set)


def apply_rows(staff: Staff, brand_id: int, rows: list[ImportRow], errors: RowErrors) -> Outcome:
    """Check rows against the database, then write everything. Must run inside a transaction;
    raises Rejected (before any write) if a row is wrong."""
    scope = store_scope(staff)

    codes = sorted({r.store_code for r in rows if r.store_code})
    stores: dict[str, Store] = {}
    for chunk in _chunks(codes):
        stores.update({s.code: s for s in Store.objects.filter(code__in=chunk)})

    mobiles = [r.mobile for r in rows if r.mobile]
    existing: dict[str, Member] = {}
    for chunk in _chunks(mobiles):
        # Locked so that a concurrent edit cannot be overwritten with values checked against stale rows.
        existing.update(
            {m.mobile or "": m for m in Member.objects.select_for_update().filter(mobile__in=chunk)}
        )

    tag_map = _resolve_tags(staff, brand_id, rows, errors)

    for row in rows:
        store = stores.get(row.store_code) if row.store_code else None
        if row.store_code:
            if store is None:
                errors.add(row.number, "store_code", _("No store has this code."))
            elif scope is not None and store.pk not in scope:
                errors.add(row.number, "store_code", _("You do not serve this store."))
        member = existing.get(row.mobile) if row.mobile else None
        if member is not None and scope is not None and member.home_store_id not in scope:
            errors.add(row.number, "mobile", _("This mobile number cannot be added here."))  # ADR 0010
        if member is None and row.mobile and not row.store_code and scope is not None:
            errors.add(row.number, "store_code", _("Give the code of one of your stores for a new member."))
    if errors:
        raise Rejected(errors.report(), len(rows))

    outcome = Outcome()
    now = timezone.now()
    new_members: list[Member] = []
    changed: dict[int, tuple[Member, list[str]]] = {}
    for row in rows:
        store = stores.get(row.store_code) if row.store_code else None
        member = existing.get(row.mobile)
        if member is None:
            member = Member(
                brand_id=brand_id,
                mobile=row.mobile,
                name=row.name,
                gender=row.gender or Gender.UNKNOWN,
                birthday=row.birthday,
                age_band=age_band_for(row.birthday),
                home_store=store,
                joined_at=now,
                source=Source.POS_IMPORT,
                created_at=now,
                updated_at=now,
            )
            new_members.append(member)
            existing[row.mobile] = member
            continue
        # "Unknown" gender carries no information, so it never overwrites a known one.
        values: dict[str, Any] = {
            "name": row.name or None,
            "gender": row.gender if row.gender and row.gender != Gender.UNKNOWN else None,
            "birthday": row.birthday,
            "home_store_id": store.pk if store else None,
        }
        if row.birthday is not None:
            values["age_band"] = age_band_for(row.birthday)
        fields = [k for k, v in values.items() if v is not None and getattr(member, k) != v]
        if fields:
            for k in fields:
                setattr(member, k, values[k])
            if member.pk in changed:
                fields = sorted({*changed[member.pk][1], *fields})
            changed[member.pk] = (member, fields)

    if new_members:
        Member.objects.bulk_create(new_members, batch_size=BATCH_SIZE)
        if any(m.pk is None for m in new_members):  # backends without RETURNING
            ids = {}
            for chunk in _chunks([m.mobile for m in new_members]):
                ids.update(dict(Member.objects.filter(mobile__in=chunk).values_list("mobile", "id")))
            for m in new_members:
                m.pk = ids[m.mobile]
    if changed:
        field_names = sorted({f for _m, fields in changed.values() for f in fields})
        members = [m for m, _fields in changed.values()]
        for m in members:
            m.updated_at = now
        Member.objects.bulk_update(members, [*field_names, "updated_at"], batch_size=BATCH_SIZE)

    tag_links = _link_tags(staff, brand_id, rows, existing, tag_map, outcome)
    store_of = {m.pk: m.home_store_id for m in existing.values()}

    events: list[Event] = []
    for m in new_members:
        events.append(
            Event(
                type="member.created",
                member_id=m.pk,
                store_id=m.home_store_id,
                occurred_at=now,
                payload={"source": Source.POS_IMPORT.value},
            )
        )
    for m, fields in changed.values():
        events.append(
            Event(
                type="member.updated",
                member_id=m.pk,
                store_id=m.home_store_id,
                occurred_at=now,
                payload={"fields": sorted(f.removesuffix("_id") for f in fields), "source": "import"},
            )
        )
    for link in tag_links:
        events.append(
            Event(
                type="member.tagged",
                member_id=link.member_id,
                store_id=store_of.get(link.member_id),
                occurred_at=now,
                payload={"tag": link.tag_id, "origin": MemberTag.Origin.IMPORT.value},
            )
        )
    bulk_record_events(events)

    tagged_existing = {link.member_id for link in tag_links} - {m.pk for m in new_members}
    outcome.created = len(new_members)
    outcome.updated = len(set(changed) | tagged_existing)
    outcome.store_ids = {m.home_store_id for m in existing.values() if m.home_store_id}
    return outcome


def _resolve_tags(
    staff: Staff, brand_id: int, rows: list[ImportRow], errors: RowErrors
) -> dict[tuple[str | None, str], Tag | tuple[str, str]]:
    """Map each tag reference to an existing Tag, or to (group, name) to create.

    Unknown tags are row errors for staff who may not manage tags; rule tags are never set by import.
    """
    wanted = {pair for r in rows for pair in r.tags}
    if not wanted:
        return {}
    groups = {g for g, _n in wanted if g} | {IMPORT_TAG_GROUP}
    names = {n for _g, n in wanted}
    by_group: dict[tuple[str, str], Tag] = {}
    by_name: dict[str, list[Tag]] = {}
    for chunk in _chunks(sorted(names)):
        for found in Tag.objects.select_related("group").filter(group__brand_id=brand_id, name__in=chunk):
            by_name.setdefault(found.name, []).append(found)
            if found.group.name in groups:
                by_group[(found.group.name, found.name)] = found

    may_create = has_capability(staff, "tags.manage")
    resolved: dict[tuple[str | None, str], Tag | tuple[str, str]] = {}
    problems: dict[tuple[str | None, str], str] = {}
    for pair in wanted:
        group, name = pair
        label = f"{group}/{name}" if group else name
        tag: Tag | None
        if group:
            tag = by_group.get((group, name))
        else:
            candidates = by_name.get(name, [])
            tag = by_group.get((IMPORT_TAG_GROUP, name)) or (candidates[0] if len(candidates) == 1 else None)
            if tag is None and len(candidates) > 1:
                problems[pair] = _("Several tag groups have a tag “%(tag)s”; write group/tag.") % {
                    "tag": label
                }
                continue
        if tag is not None:
            if tag.is_rule_based:
                problems[pair] = _("Tag “%(tag)s” is computed by a rule and cannot be imported.") % {
                    "tag": label
                }
            else:
                resolved[pair] = tag
        elif may_create:
            resolved[pair] = (group or IMPORT_TAG_GROUP, name)
        else:
            problems[pair] = _("There is no tag “%(tag)s”, and your role may not create tags.") % {
                "tag": label
            }
    for row in rows:
        for pair in row.tags:
            if pair in problems:
                errors.add(row.number, "tags", problems[pair])
    return resolved


def _link_tags(
    staff: Staff,
    brand_id: int,
    rows: list[ImportRow],
    members: dict[str, Member],
    tag_map: dict[tuple[str | None, str], Tag | tuple[str, str]],
    outcome: Outcome,
) -> list[MemberTag]:
    """Create the missing groups and tags, then add the import tags members do not have yet."""
    if not tag_map:
        return []
    to_create = sorted({v for v in tag_map.values() if isinstance(v, tuple)})
    if to_create:
        group_names = sorted({g for g, _n in to_create})
        groups = {g.name: g for g in TagGroup.objects.filter(brand_id=brand_id, name__in=group_names)}
        missing = [TagGroup(brand_id=brand_id, name=g) for g in group_names if g not in groups]
        if missing:
            TagGroup.objects.bulk_create(missing)
            groups = {g.name: g for g in TagGroup.objects.filter(brand_id=brand_id, name__in=group_names)}
        Tag.objects.bulk_create([Tag(group=groups[g], name=n) for g, n in to_create])
        wanted_pairs = set(to_create)
        created = {
            (t.group.name, t.name): t
            for t in Tag.objects.select_related("group").filter(group__in=groups.values())
            if (t.group.name, t.name) in wanted_pairs
        }
        for pair, value in list(tag_map.items()):
            if isinstance(value, tuple):
                tag_map[pair] = created[value]
        outcome.tags_created = len(to_create)
        outcome.new_tags = [f"{g}/{n}" for g, n in to_create[:50]]

    wanted: set[tuple[int, int]] = set()
    for row in rows:
        member = members[row.mobile]
        for pair in row.tags:
            tag = tag_map[pair]
            assert isinstance(tag, Tag)
            wanted.add((member.pk, tag.pk))
    member_ids = sorted({m for m, _t in wanted})
    have: set[tuple[int, int]] = set()
    for chunk in _chunks(member_ids):
        # Filtered by member only: a file may name more distinct tags than one query may bind.
        have.update(MemberTag.objects.filter(member_id__in=chunk).values_list("member_id", "tag_id"))
    links = [
        MemberTag(member_id=m, tag_id=t, origin=MemberTag.Origin.IMPORT, added_by=staff)
        for m, t in sorted(wanted - have)
    ]
    MemberTag.objects.bulk_create(links, batch_size=BATCH_SIZE, ignore_conflicts=True)
    outcome.tags_added = len(links)
    return links
