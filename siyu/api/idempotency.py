"""``Idempotency-Key`` support for create requests that a client may retry.

Keys are scoped to who sent them (ADR 0009): an API token, or a staff member's console session. The first
successful response to (actor, key) is stored with a hash of the request. A retry with
the same key and the same method, path and body gets the stored body again with status 200
(the original was 201), and changes nothing. The same key with a different request is refused
with 409 ``idempotency_mismatch``. Refused requests (4xx) are not stored: they changed nothing,
so a retry simply runs again. Keys are remembered for ``TTL``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from siyu.api.auth import current_actor, current_staff
from siyu.api.models import IdempotencyRecord
from siyu.common.idempotency import mismatch, request_hash
from siyu.common.validators import clean_idempotency_key

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)


def _replay(record: IdempotencyRecord, digest: str, method: str, path: str) -> tuple[int, Any]:
    if record.request_hash != digest or record.method != method or record.path != path:
        raise mismatch(HEADER)
    return (200 if record.status == 201 else record.status), record.response_json


def run_idempotent(
    request: HttpRequest,
    key: str | None,
    *,
    body: Any,
    action: Callable[[], tuple[int, Any]],
) -> tuple[int, Any]:
    """Run ``action`` (returning status and JSON-ready body) at most once per (actor, key), the actor being
    the request's API token or console session.

    Without a key ``action`` simply runs. With one, the record is claimed before ``action`` runs and
    written in the same transaction, so two concurrent retries cannot both run it: the second waits
    on the unique (actor, key) row and then replays the first's response. Another actor's identical key
    is a different key; the same actor's key with another method, path or body is 409.
    """
    key = clean_idempotency_key(key, HEADER, required=False)
    if key is None:
        return action()
    staff = current_staff(request)
    actor = current_actor(request)
    method, path = request.method or "POST", request.path
    digest = request_hash(method, path, body)
    with transaction.atomic():
        existing = IdempotencyRecord.objects.select_for_update().filter(actor=actor, key=key).first()
        if existing is not None and existing.created_at < timezone.now() - TTL:
            existing.delete()
            existing = None
        if existing is not None:
            return _replay(existing, digest, method, path)
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    staff=staff, actor=actor, key=key, method=method, path=path, request_hash=digest
                )
        except IntegrityError:
            # A concurrent request with this key committed first: answer as it did.
            return _replay(IdempotencyRecord.objects.get(actor=actor, key=key), digest, method, path)
        status, response = action()
        record.status = status
        record.response_json = json.loads(json.dumps(response, cls=DjangoJSONEncoder))
        record.save(update_fields=["status", "response_json"])
    return status, response


def purge_expired(now: Any = None) -> int:
    """Delete records older than ``TTL``; returns how many. Safe to run at any time."""
    cutoff = (now or timezone.now()) - TTL
    deleted, _detail = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
