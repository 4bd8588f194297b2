"""The outbox: every call to a channel is a row written in the transaction that decided it, sent after commit.

Guarantees:
- nothing is lost: a row stays ``pending`` until the provider accepted it, is retried with exponential
  backoff (plus jitter, and never sooner than the provider's ``retry_after``), and ends ``failed`` — visible
  in the console — after ``max_attempts`` or at once when the error cannot be fixed by retrying;
- per-bucket rate limits (``RateLimit`` of the connector, by bucket prefix) are never exceeded: a row over
  the limit is delayed to when the window frees up, never dropped;
- concurrent dispatchers never send the same row twice: a row is *claimed* in a short transaction
  (``SELECT … FOR UPDATE SKIP LOCKED`` under a transaction-level advisory lock on PostgreSQL; SQLite's
  IMMEDIATE transactions serialise) by
  charging it to its bucket's window (``sent_at`` = claim time) and leasing it (``next_attempt_at`` =
  now + lease). A dispatcher that dies mid-call leaves the row to be claimed again when the lease runs out
  (at-least-once delivery).
- provider calls run outside any database transaction.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.channels import hooks
from siyu.channels.connectors.base import ChannelConnector, ChannelError, RateLimit
from siyu.channels.connectors.telegram import TelegramConnector
from siyu.channels.connectors.web import WebConnector
from siyu.channels.connectors.wecom import WeComConnector
from siyu.channels.models import ChannelKind, Connector, OutboxMessage
from siyu.common.errors import NotFound, ValidationFailed
from siyu.org.models import Staff
from siyu.org.services.access import require_staff, store_scope

logger = logging.getLogger("siyu.channels.outbox")

LEASE = timedelta(minutes=5)
BACKOFF_BASE_SECONDS = 10.0
BACKOFF_MAX_SECONDS = 6 * 3600.0
CLAIM_LOCK_ID = 0x5159_0B0C  # pg advisory lock key of the claim step
ACTIONS = (
    "post",
    "mute",
    "remove",
    "rename",
    "announce",
    "join_way_sync",
    "mass_message",
    "mass_remind",
    "mass_cancel",
    "delete_message",
    # WeCom, addressed to staff (``siyu.channels.connectors.wecom_staff``).
    "app_message",
    "staff_robot_post",
    "welcome_template_sync",
)


def get_connector(connector: Connector) -> ChannelConnector:
    """The ``ChannelConnector`` for ``connector.kind``, configured from ``connector.config``."""
    if connector.kind == ChannelKind.WECOM:
        return WeComConnector(connector)
    if connector.kind == ChannelKind.TELEGRAM:
        return TelegramConnector(connector)
    if connector.kind == ChannelKind.WEB:
        return WebConnector(connector)
    raise ValueError(f"unknown connector kind {connector.kind!r}")


def _limit_for(impl: ChannelConnector, bucket: str) -> RateLimit | None:
    prefix = bucket.split(":", 1)[0]
    custom = getattr(impl, "rate_limit_for", None)
    if callable(custom):
        limit: RateLimit | None = custom(prefix)
        return limit
    return impl.rate_limits.get(prefix)


def bucket_for(connector: Connector, action: str, payload: dict[str, Any], default: str = "") -> str:
    """The bucket a call is rate-limited in: the connector's own choice (e.g. WeCom: per robot key), else
    ``default``, else one bucket per connector."""
    impl = get_connector(connector)
    chooser = getattr(impl, "bucket_for", None)
    chosen = chooser(action, payload) if callable(chooser) else None
    return chosen or default or f"connector:{connector.pk}"


def enqueue(
    connector: Connector,
    action: str,
    payload: dict[str, Any],
    *,
    bucket: str,
    idempotency_key: str,
    community_id: int | None = None,
    max_attempts: int | None = None,
) -> OutboxMessage:
    """Write one channel call to the outbox; idempotent by ``idempotency_key`` (the existing row is returned).

    Call inside the transaction that decided the call: a rollback takes the row with it. Dispatch is
    scheduled for after commit. The connector may override ``bucket`` where the provider's limit is defined
    elsewhere (WeCom robot posts are limited per robot key, whatever group they are for).
    """
    if action not in ACTIONS:
        raise ValidationFailed(_("Unknown channel action."), field="action")
    if not idempotency_key or len(idempotency_key) > 128:
        raise ValidationFailed(
            _("An idempotency key of 1 to 128 characters is required."), field="idempotency_key"
        )
    existing = OutboxMessage.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    fields: dict[str, Any] = {
        "connector": connector,
        "action": action,
        "payload": payload,
        "bucket": bucket_for(connector, action, payload, bucket)[:128],
        "community_id": community_id,
        "next_attempt_at": timezone.now(),
    }
    if max_attempts:
        fields["max_attempts"] = max_attempts
    try:
        with transaction.atomic():
            row = OutboxMessage.objects.create(idempotency_key=idempotency_key, **fields)
    except IntegrityError:
        # A concurrent enqueue with the same key won; its row is the one.
        return OutboxMessage.objects.get(idempotency_key=idempotency_key)
    transaction.on_commit(schedule_dispatch)
    return row


def schedule_dispatch() -> None:
    """Send due messages soon, off the request: in a background thread (``SIYU_OUTBOX_DISPATCH`` = "thread",
    the default), inline ("inline") or not at all ("off": only the periodic runner sends; the default under
    tests, so no test talks to a provider or spawns threads unless it asks to)."""
    mode = getattr(
        settings, "SIYU_OUTBOX_DISPATCH", "off" if getattr(settings, "TESTING", False) else "thread"
    )
    if mode == "off":
        return
    if mode == "inline":
        dispatch_due()
        return

    def run() -> None:
        try:
            dispatch_due()
        except Exception:  # the periodic runner will pick the rows up; a thread must not die loudly
            logger.exception("background outbox dispatch failed")
        finally:
            close_old_connections()
            connection.close()

    threading.Thread(target=run, name="siyu-outbox", daemon=True).start()


@dataclass
class _Claim:
    row: OutboxMessage
    impl: ChannelConnector


def _backoff(attempts: int, retry_after: float | None) -> float:
    delay = min(BACKOFF_BASE_SECONDS * (2 ** max(0, attempts - 1)), BACKOFF_MAX_SECONDS)
    delay *= random.uniform(0.8, 1.2)  # jitter spreads retries of many rows that failed together
    if retry_after:
        delay = max(delay, float(retry_after))
    return delay


def _window_times(filter_kwargs: dict[str, Any], since: datetime, now: datetime) -> list[datetime]:
    times = OutboxMessage.objects.filter(sent_at__gt=since, sent_at__lte=now, **filter_kwargs).values_list(
        "sent_at", flat=True
    )
    return sorted(t for t in times if t is not None)


def _claim(now: datetime, limit: int) -> list[_Claim]:
    claims: list[_Claim] = []
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Claims are short (no provider calls); serialising them keeps the per-bucket window counts
            # exact, which row locks alone would not (a concurrent claim is invisible until it commits).
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CLAIM_LOCK_ID])
        qs = OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now)
        if connection.features.has_select_for_update_skip_locked:
            # of=self: lock only outbox rows, not the joined connector row (other dispatchers need it too).
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        rows = list(qs.select_related("connector").order_by("next_attempt_at", "id")[:limit])
        impls: dict[int, ChannelConnector] = {}
        # Sent times in the current window per bucket / per connector, extended as this pass claims rows.
        windows: dict[str, list[datetime]] = {}
        overall: dict[int, list[datetime]] = {}
        delayed_in: dict[str, int] = {}
        for row in rows:
            impl = impls.get(row.connector_id)
            if impl is None:
                impl = impls[row.connector_id] = get_connector(row.connector)
            if not row.connector.active:
                row.status = OutboxMessage.Status.FAILED
                row.last_error = "connector is disabled"
                row.sent_at = None
                row.save(update_fields=["status", "last_error", "sent_at"])
                continue
            wait_until = None
            limit_ = _limit_for(impl, row.bucket)
            if limit_ is not None:
                if row.bucket not in windows:
                    since = now - timedelta(seconds=limit_.seconds)
                    windows[row.bucket] = _window_times({"bucket": row.bucket}, since, now)
                used = windows[row.bucket]
                if len(used) >= limit_.count:
                    # The k-th row over the limit goes when the k-th oldest charge leaves the window.
                    k = delayed_in.get(row.bucket, 0)
                    delayed_in[row.bucket] = k + 1
                    index = min(len(used) - limit_.count + k, len(used) - 1)
                    wait_until = used[index] + timedelta(seconds=limit_.seconds)
            overall_limit: RateLimit | None = getattr(impl, "overall_rate_limit", None)
            if wait_until is None and overall_limit is not None:
                if row.connector_id not in overall:
                    since = now - timedelta(seconds=overall_limit.seconds)
                    overall[row.connector_id] = _window_times({"connector_id": row.connector_id}, since, now)
                used_all = overall[row.connector_id]
                if len(used_all) >= overall_limit.count:
                    wait_until = used_all[len(used_all) - overall_limit.count] + timedelta(
                        seconds=overall_limit.seconds
                    )
            if wait_until is not None:
                # Delayed, not attempted: attempts and errors are untouched.
                OutboxMessage.objects.filter(pk=row.pk).update(
                    next_attempt_at=max(wait_until, now + timedelta(milliseconds=1))
                )
                continue
            if limit_ is not None:
                windows[row.bucket].append(now)
            if overall_limit is not None and row.connector_id in overall:
                overall[row.connector_id].append(now)
            OutboxMessage.objects.filter(pk=row.pk).update(
                sent_at=now, next_attempt_at=now + LEASE, attempts=F("attempts") + 1
            )
            row.attempts += 1
            row.sent_at = now
            claims.append(_Claim(row, impl))
    return claims


def _finish(claim: _Claim, *, simulated_now: datetime | None) -> bool:
    row = claim.row
    try:
        result = claim.impl.perform(row.action, dict(row.payload))
    except ChannelError as exc:
        error: ChannelError = exc
    except Exception as exc:  # a bug or malformed payload: retried like a provider error, then failed
        logger.exception("outbox row %s raised", row.pk)
        error = ChannelError(f"{exc.__class__.__name__}: {exc}", retryable=True)
    else:
        sent_at = simulated_now or timezone.now()
        stored = result if isinstance(result, dict) else {"result": result}
        OutboxMessage.objects.filter(pk=row.pk).update(
            status=OutboxMessage.Status.SENT, result=stored, sent_at=sent_at, last_error=""
        )
        _tell(
            hooks.delivery_confirmed,
            hooks.Delivery(
                outbox_id=row.pk, action=row.action, community_id=row.community_id, ok=True, result=stored
            ),
        )
        return True
    now = simulated_now or timezone.now()
    if error.retryable and row.attempts < row.max_attempts:
        delay = _backoff(row.attempts, error.retry_after)
        OutboxMessage.objects.filter(pk=row.pk).update(
            sent_at=None, next_attempt_at=now + timedelta(seconds=delay), last_error=str(error)[:2000]
        )
        logger.info("outbox row %s failed (%s); retry in %.0fs", row.pk, error, delay)
    else:
        OutboxMessage.objects.filter(pk=row.pk).update(
            status=OutboxMessage.Status.FAILED, sent_at=None, last_error=str(error)[:2000]
        )
        logger.warning("outbox row %s failed for good: %s", row.pk, error)
        _tell(
            hooks.delivery_failed,
            hooks.Delivery(
                outbox_id=row.pk,
                action=row.action,
                community_id=row.community_id,
                ok=False,
                error=str(error)[:2000],
            ),
        )
    return False


def _tell(hook: hooks.Hook[hooks.Delivery, None], delivery: hooks.Delivery) -> None:
    """Tell the apps above how a call ended; the row is already final, so a failing handler is only logged."""
    try:
        with transaction.atomic():
            hook.send(delivery)
    except Exception:
        logger.exception("%s handler failed for outbox row %s", hook.name, delivery.outbox_id)


def dispatch_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Claim up to ``limit`` due rows, respecting rate limits, and perform them; returns how many were
    attempted (sent or failed this time). Rows over a rate limit are re-timed, not attempted.

    ``now`` simulates the clock (tests); by default the real time is used.
    """
    claim_time = now or timezone.now()
    claims = _claim(claim_time, limit)
    for claim in claims:
        _finish(claim, simulated_now=now)
    return len(claims)


def payload_of(outbox_id: int) -> dict[str, Any]:
    """The payload of one outbox row (empty when there is none): what a delivery hook's handler was about."""
    payload = OutboxMessage.objects.filter(pk=outbox_id).values_list("payload", flat=True).first()
    return dict(payload or {})


def failed_messages(staff: Staff) -> QuerySet[OutboxMessage]:
    """Failed channel calls ``staff`` may see: HQ all, store roles those of their stores' communities (asked
    through ``hooks.communities_in_stores``; with no answer, none)."""
    require_staff(staff)
    qs = OutboxMessage.objects.filter(status=OutboxMessage.Status.FAILED).select_related("connector")
    scope = store_scope(staff)
    if scope is not None:
        community_ids = hooks.communities_in_stores.ask(frozenset(scope))
        qs = qs.filter(community_id__in=community_ids if community_ids is not None else [])
    return qs.order_by("-id")


def retry_message(staff: Staff, message_id: int) -> OutboxMessage:
    """Put one failed call back in the queue (fresh attempts), if ``staff`` may see it."""
    require_staff(staff)
    with transaction.atomic():
        row = failed_messages(staff).select_for_update().filter(pk=message_id).first()
        if row is None:
            raise NotFound(_("No such failed message."))
        row.status = OutboxMessage.Status.PENDING
        row.attempts = 0
        row.next_attempt_at = timezone.now()
        row.sent_at = None
        row.save(update_fields=["status", "attempts", "next_attempt_at", "sent_at"])
    transaction.on_commit(schedule_dispatch)
    return row
