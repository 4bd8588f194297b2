"""The staff audit trail: one append-only row per action on member data."""

from __future__ import annotations

from typing import Any

from siyu.org.models import AuditEntry, Staff


def record_audit(
    actor: Staff | None,
    action: str,
    *,
    target_type: str,
    target_id: object = "",
    store_id: int | None = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Append an audit entry. Call inside the same transaction as the change it records,
    so that the change and its audit row are written together or not at all."""
    return AuditEntry.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        store_id=store_id,
        detail=detail or {},
        ip=ip or None,
    )
