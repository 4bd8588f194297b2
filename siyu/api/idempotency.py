"""``Idempotency-Key`` support for create requests that a client may retry.

The first successful response to (staff, key) is stored with a hash of the request. A retry with
the same key and the same method, path and body gets the stored body again with status 200
(the original was 201), and changes nothing. The same key with a different request is refused
with 409 ``idempotency_mismatch``. Refused requests (4xx) are not stored: they changed nothing,
so a retry simply runs again. Keys are remembered for ``TTL``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.api.models import IdempotencyRecord
from siyu.common.errors import Conflict, ValidationFailed
from siyu.org.models import Staff

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def clean_key(key: str | None) -> str | None:
    """The key as sent, or None when absent; ValidationFailed for an empty, overlong or non-ASCII key."""
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ValidationFailed(_("An Idempotency-Key has 1 to 255 printable ASCII characters."), field=HEADER)
    return key


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, cls=DjangoJSONEncoder, ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, digest: str, method: str, path: str) -> tuple[int, Any]:
    if record.request_hash != digest or record.method != method or record.path != path:
        raise Conflict(
            _("This Idempotency-Key was already used for a different request."),
            field=HEADER,
            code="idempotency_mismatch",
        )
    return (200 if record.status == 201 else record.status), record.response_json


def run_idempotent(
    staff: Staff,
    key: str | None,
    *,
    method: str,
    path: str,
    body: Any,
    action: Callable[[], tuple[int, Any]],
) -> tuple[int, Any]:
    """Run ``action`` (returning status and JSON-ready body) at most once per (staff, key).

    Without a key ``action`` simply runs. With one, the record is claimed before ``action`` runs and
    written in the same transaction, so two concurrent retries cannot both run it: the second waits
    on the unique (staff, key) row and then replays the first's response.
    """
    key = clean_key(key)
    if key is None:
        return action()
    digest = request_hash(method, path, body)
    with transaction.atomic():
        existing = IdempotencyRecord.objects.select_for_update().filter(staff=staff, key=key).first()
        if existing is not None and existing.created_at < timezone.now() - TTL:
            existing.delete()
            existing = None
        if existing is not None:
            return _replay(existing, digest, method, path)
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    staff=staff, key=key, method=method, path=path, request_hash=digest
                )
        except IntegrityError:
            # A concurrent request with this key committed first: answer as it did.
            return _replay(IdempotencyRecord.objects.get(staff=staff, key=key), digest, method, path)
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
