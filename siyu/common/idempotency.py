"""Idempotency keys, scoped to who sent them (ADR 0009).

A client's key means "this request of mine, retried": it is only ever compared with keys **the same actor**
sent for **the same operation** on **the same target**. Keys the system makes for itself (an order reserving
its lines, a cancellation releasing them, the robot's posts) live in a namespace no client can write.

Every table with a unique ``idempotency_key`` column stores one of two forms:

- ``sys:<parts>`` — made by ``system_key`` for Siyu's own writes; never derived from client input.
- ``c:<sha256 hex>`` — made by ``client_key`` from (actor, operation, target, the client's key). Two staff
  members sending the same key get two different stored keys; a key shaped like an internal one (``sys:…``,
  ``order-12-line-3-reserve``) is just text inside the hash and cannot reach the ``sys:`` namespace.

Tables where the key column is already scoped by a foreign key (an order's ``(member, idempotency_key)``)
keep the client key as sent, beside a ``request_hash`` so that the same key with a different request is
refused (409 ``idempotency_mismatch``) instead of silently answering the first request.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict

SYSTEM_PREFIX = "sys:"
CLIENT_PREFIX = "c:"
MISMATCH_CODE = "idempotency_mismatch"
_PART = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


def actor_ref(kind: str, pk: int) -> str:
    """``staff:12``, ``member:40``, ``token:3``: who sent a request, as stored with its key."""
    if kind not in {"staff", "member", "token", "system"}:
        raise ValueError(f"unknown actor kind {kind!r}")
    return f"{kind}:{int(pk)}"


def system_key(*parts: object) -> str:
    """A key Siyu makes for its own write, e.g. ``system_key("order", 12, "line", 3, "reserve")``."""
    texts = [str(p) for p in parts]
    if not texts or not all(_PART.match(t) for t in texts):
        # parts are ids and fixed words; a free-text part would blur the namespace
        raise ValueError(f"system key parts must be ids or words: {parts!r}")
    return SYSTEM_PREFIX + ":".join(texts)


def client_key(actor: str, operation: str, target: object, key: str) -> str:
    """The stored form of a client's key: a hash of who sent it, for what, on what, and the key itself.

    ``key`` must already be clean (``siyu.common.validators.clean_idempotency_key``). 66 characters.
    """
    material = json.dumps([actor, operation, str(target), key], ensure_ascii=True)
    return CLIENT_PREFIX + hashlib.sha256(material.encode()).hexdigest()


def request_hash(*parts: Any) -> str:
    """A fingerprint of what a request asked for (canonical JSON, sorted keys), stored beside its key."""
    canonical = json.dumps(list(parts), sort_keys=True, cls=DjangoJSONEncoder, ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def mismatch(field: str = "idempotency_key") -> Conflict:
    """The error for the same actor's same key with a different request."""
    return Conflict(
        _("This idempotency key was already used for a different request."),
        field=field,
        code=MISMATCH_CODE,
    )
