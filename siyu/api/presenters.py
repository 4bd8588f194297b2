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


# --- communities -----------------------------------------------------------------------------


def _ref(obj: Any, name: str | None = None) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {"id": obj.pk, "name": name if name is not None else str(obj)}


def _who(staff: Staff | None) -> str | None:
    return str(staff) if staff is not None else None


def community_out(community: Any) -> dict[str, Any]:
    return {
        "id": community.pk,
        "name": community.name,
        "store": store_ref(community.store),
        "template": _ref(community.template, community.template.name if community.template else None),
        "channel": community.channel,
        "theme": community.theme,
        "status": community.status,
        "member_count": community.member_count,
        "recommended_size": community.recommended_size,
        "hard_cap": community.hard_cap,
        "external_id": community.external_id,
        "created_at": community.created_at,
    }


def community_detail_out(community: Any, activity: list[int], signals: list[str]) -> dict[str, Any]:
    data = community_out(community)
    data.update(
        {
            "audience": community.audience,
            "rules_text": community.rules_text,
            "welcome_template": community.welcome_template,
            "announcement": community.announcement,
            "activity": activity,
            "activity_signals": signals,
        }
    )
    return data


def community_member_out(row: Any) -> dict[str, Any]:
    m = row.membership
    return {
        "membership_id": m.pk,
        "member_id": m.member_id,
        "staff_id": m.staff_id,
        "name": row.name,
        "mobile": row.masked_mobile,
        "role": m.role,
        "scene": m.scene,
        "joined_at": m.joined_at,
        "muted_until": m.muted_until,
    }


def message_out(message: Any) -> dict[str, Any]:
    member = message.member
    return {
        "id": message.pk,
        "sender_kind": message.sender_kind,
        "kind": message.kind,
        "text": message.text,
        "member": _ref(member, member.name or f"#{member.pk}") if member is not None else None,
        "staff": _ref(message.staff),
        "image_url": message.image.url if message.image else None,
        "card": message.card or {},
        "hidden": message.hidden,
        "created_at": message.created_at,
    }


def scheduled_post_out(post: Any) -> dict[str, Any]:
    return {
        "id": post.pk,
        "community_id": post.community_id,
        "text": post.text or post.markdown,
        "run_at": post.run_at,
        "created_by": str(post.created_by),
        "sent_at": post.sent_at,
        "message_id": post.message_id,
        "error": post.error,
    }


def moderation_action_out(action: Any) -> dict[str, Any]:
    member = action.member
    return {
        "id": action.pk,
        "community_id": action.community_id,
        "member": {"id": member.pk, "name": member.name or f"#{member.pk}"},
        "rule": action.rule,
        "action": action.action,
        "reason": action.reason,
        "message_id": action.message_id,
        "actor": _who(action.actor),
        "created_at": action.created_at,
        "overridden": action.overridden_at is not None,
        "overridden_by": _who(action.overridden_by),
        "overridden_at": action.overridden_at,
        "override_note": action.override_note,
    }


def join_request_out(request: Any) -> dict[str, Any]:
    code = request.live_code
    member = request.member
    return {
        "id": request.pk,
        "live_code_id": code.pk,
        "store": store_ref(code.store),
        "template": {"id": code.template.pk, "name": code.template.name},
        "member": {
            "id": member.pk,
            "name": member.name or f"#{member.pk}",
            "mobile": mask_mobile(member.mobile),
        },
        "answers": request.answers if isinstance(request.answers, dict) else {"answers": request.answers},
        "order_number": request.order_number,
        "status": request.status,
        "reason": request.reason,
        "community_id": request.community_id,
        "created_at": request.created_at,
        "reviewed_at": request.reviewed_at,
        "reviewed_by": _who(request.reviewed_by),
    }


def live_code_out(code: Any, *, join_url: str, qr_url: str, poster_url: str) -> dict[str, Any]:
    return {
        "id": code.pk,
        "name": code.name,
        "store": store_ref(code.store),
        "template": {"id": code.template.pk, "name": code.template.name},
        "staff": _ref(code.staff),
        "channel": code.channel,
        "active": code.active,
        "join_url": join_url,
        "qr_url": qr_url,
        "poster_url": poster_url,
        "created_at": code.created_at,
    }


def group_template_out(template: Any) -> dict[str, Any]:
    return {
        "id": template.pk,
        "name": template.name,
        "theme": template.theme,
        "base_name": template.base_name,
        "audience": template.audience,
        "recommended_size": template.recommended_size,
        "rules_text": template.rules_text,
        "welcome_template": template.welcome_template,
        "threshold": template.threshold,
        "questionnaire": template.questionnaire if isinstance(template.questionnaire, list) else [],
        "active": template.active,
        "created_at": template.created_at,
    }


def task_out(task: Any) -> dict[str, Any]:
    return {
        "id": task.pk,
        "store": store_ref(task.store),
        "community": _ref(task.community, task.community.name if task.community else None),
        "kind": task.kind,
        "title": task.title,
        "payload": task.payload or {},
        "assignee": _who(task.assignee),
        "status": task.status,
        "created_at": task.created_at,
        "done_at": task.done_at,
        "done_by": _who(task.done_by),
    }


def outbox_out(message: Any, community: Any = None) -> dict[str, Any]:
    connector = message.connector
    return {
        "id": message.pk,
        "connector": {"id": connector.pk, "name": connector.name},
        "channel": connector.kind,
        "community": _ref(community, community.name if community is not None else None),
        "action": message.action,
        "status": message.status,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "created_at": message.created_at,
        "next_attempt_at": message.next_attempt_at,
    }
