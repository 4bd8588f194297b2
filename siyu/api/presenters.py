"""Model rows → response dicts. Mobile numbers leave here masked, always."""

from __future__ import annotations

from typing import Any

from siyu.analytics.models import Event
from siyu.common.mobile import mask_mobile
from siyu.members.models import Member, MemberImport, Tag
from siyu.org.models import ApiToken, Staff, Store

DETAIL_HISTORY = 20


def store_ref(store: Store | None) -> dict[str, Any] | None:
    if store is None:
        return None
    return {"id": store.pk, "code": store.code, "name": store.name}


def store_out(store: Store) -> dict[str, Any]:
    return {
        "id": store.pk,
        "code": store.code,
        "name": store.name,
        "region": store.region.code if store.region else None,
        "city": store.city,
        "district": store.district,
        "address": store.address,
        "latitude": float(store.latitude) if store.latitude is not None else None,
        "longitude": float(store.longitude) if store.longitude is not None else None,
        "opening_hours": store.opening_hours,
        "phone": store.phone,
        "status": store.status,
        "created_at": store.created_at,
    }


def staff_out(staff: Staff) -> dict[str, Any]:
    return {
        "id": staff.pk,
        "username": staff.username,
        "display_name": staff.display_name,
        "role": staff.role,
        "is_active": staff.is_active,
        "can_reveal_mobile": staff.can_reveal_mobile,
        "stores": [store_ref(s) for s in staff.stores.all()],
        "last_login": staff.last_login,
        "date_joined": staff.date_joined,
    }


def member_out(member: Member) -> dict[str, Any]:
    return {
        "id": member.pk,
        "mobile": mask_mobile(member.mobile),
        "name": member.name,
        "gender": member.gender,
        "birthday": member.birthday,
        "age_band": member.age_band,
        "occupation": member.occupation,
        "district": member.district,
        "home_store": store_ref(member.home_store),
        "joined_at": member.joined_at,
        "source": member.source,
        "marketing_consent": member.marketing_consent,
        "erased_at": member.erased_at,
    }


def member_detail_out(member: Member) -> dict[str, Any]:
    data = member_out(member)
    data["consent_updated_at"] = member.consent_updated_at
    data["consent_history"] = [
        {"action": c.action, "source": c.source, "occurred_at": c.occurred_at}
        for c in member.consent_records.all()[:DETAIL_HISTORY]
    ]
    data["tags"] = [
        {"id": mt.tag.pk, "group": mt.tag.group.name, "name": mt.tag.name, "origin": mt.origin}
        for mt in member.member_tags.select_related("tag__group").order_by("tag__group_id", "tag_id")
    ]
    data["notes"] = [
        {
            "id": n.pk,
            "text": n.text,
            "author": str(n.author) if n.author else None,
            "created_at": n.created_at,
        }
        for n in member.notes.select_related("author")[:DETAIL_HISTORY]
    ]
    return data


def event_out(event: Event) -> dict[str, Any]:
    return {
        "id": event.pk,
        "type": event.type,
        "store_id": event.store_id,
        "occurred_at": event.occurred_at,
        "payload": event.payload or {},
    }


def tag_out(tag: Tag) -> dict[str, Any]:
    return {
        "id": tag.pk,
        "group": tag.group.name,
        "name": tag.name,
        "rule": tag.rule,
        "is_rule_based": tag.is_rule_based,
        "recomputed_at": tag.recomputed_at,
        "created_at": tag.created_at,
    }


def import_out(record: MemberImport) -> dict[str, Any]:
    return {
        "id": record.pk,
        "file_name": record.file_name,
        "status": record.status,
        "row_count": record.row_count,
        "created_count": record.created_count,
        "updated_count": record.updated_count,
        "errors": record.errors or [],
        "created_at": record.created_at,
    }


def token_out(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }
