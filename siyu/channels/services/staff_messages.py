"""Messages to staff on WeCom: app messages (tasks pushed to phones) and store robots (internal staff groups).

Neither ever addresses a customer group: an app message goes to staff userids, and a store robot posts only
into the INTERNAL staff group whose webhook key the store configured (a robot cannot join a customer group;
``/work/shared/specs/wecom.md``). Both go through the outbox (``app_message``, ``staff_robot_post``).

Per-member app-message limits (WeCom drops the excess silently: 30 a minute, 1,000 an hour per app and
member; configurable per connector as ``app_messages_per_minute`` / ``app_messages_per_hour``) are counted in
``StaffAppMessage`` rows before queuing, under a lock on the connector row, so two pushers never overrun them.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.channels.connectors.wecom import robot_bucket
from siyu.channels.models import ChannelKind, Connector, OutboxMessage, StaffAppMessage, StoreRobot
from siyu.channels.services.outbox import enqueue
from siyu.common.errors import PermissionDenied, ValidationFailed
from siyu.org.models import Role, Staff, Store
from siyu.org.services.access import has_capability, require_staff
from siyu.org.services.audit import record_audit
from siyu.org.services.stores import get_store

APP_MESSAGES_PER_MINUTE = 30
APP_MESSAGES_PER_HOUR = 1000
DEFAULT_SUMMARY_AT = time(21, 0)
# A webhook key as WeCom shows it (a UUID); also accepted: the whole webhook URL, from which it is taken.
_ROBOT_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{7,63}")


# --- which WeCom app serves a store -------------------------------------------------------------------


def wecom_connector_for_store(store: Store) -> Connector | None:
    """The active WeCom connector of ``store``: the one configured for its store code, else the brand's
    connector configured for no particular store (lowest id). None when the store has no WeCom app."""
    rows = list(
        Connector.objects.filter(brand_id=store.brand_id, kind=ChannelKind.WECOM, active=True).order_by("id")
    )
    for row in rows:
        if (row.config or {}).get("store_code") == store.code:
            return row
    for row in rows:
        if not (row.config or {}).get("store_code"):
            return row
    return None


def can_message_staff(connector: Connector | None) -> bool:
    """Whether app messages can go out through ``connector`` (a WeCom app with its AgentId)."""
    return connector is not None and str((connector.config or {}).get("agent_id") or "").isdigit()


# --- app messages -------------------------------------------------------------------------------------


def app_message_limits(connector: Connector) -> tuple[int, int]:
    """(per minute, per hour) app messages one member may get from this connector's app."""
    config = connector.config or {}
    per_minute = int(config.get("app_messages_per_minute") or APP_MESSAGES_PER_MINUTE)
    per_hour = int(config.get("app_messages_per_hour") or APP_MESSAGES_PER_HOUR)
    return max(1, per_minute), max(1, per_hour)


def lock_app_messages(connector: Connector) -> None:
    """Serialise app-message budgeting on ``connector`` until the caller's transaction ends (row lock)."""
    assert transaction.get_connection().in_atomic_block, "call inside the pushing transaction"
    Connector.objects.select_for_update().filter(pk=connector.pk).values_list("pk", flat=True).first()


def app_message_room(
    connector: Connector, userids: list[str], *, now: datetime | None = None
) -> dict[str, int]:
    """How many more app messages each of ``userids`` may get now within both per-member limits."""
    now = now or timezone.now()
    per_minute, per_hour = app_message_limits(connector)
    counts = (
        StaffAppMessage.objects.filter(
            connector=connector, userid__in=userids, created_at__gt=now - timedelta(hours=1)
        )
        .values("userid")
        .annotate(hour=Count("id"), minute=Count("id", filter=Q(created_at__gt=now - timedelta(minutes=1))))
    )
    used = {row["userid"]: (row["minute"], row["hour"]) for row in counts}
    return {
        u: max(0, min(per_minute - used.get(u, (0, 0))[0], per_hour - used.get(u, (0, 0))[1]))
        for u in userids
    }


def queue_app_message(
    connector: Connector,
    userids: list[str],
    card: dict[str, Any],
    *,
    key: str,
    digest: bool = False,
    now: datetime | None = None,
) -> OutboxMessage:
    """Queue one textcard app message (``{"title", "description", "url", "btntxt"?}``) to ``userids`` and
    count it against each member's limits. Call inside the transaction that decided it, after checking
    ``app_message_room`` under ``lock_app_messages``. Idempotent by ``key``."""
    users = sorted(set(u for u in userids if u))
    row = enqueue(
        connector,
        "app_message",
        {"touser": users, "textcard": card},
        bucket=f"api:{connector.pk}",
        idempotency_key=key,
    )
    at = now or timezone.now()
    if not StaffAppMessage.objects.filter(outbox_id=row.pk).exists():
        StaffAppMessage.objects.bulk_create(
            [
                StaffAppMessage(connector=connector, userid=u, outbox_id=row.pk, digest=digest, created_at=at)
                for u in users
            ]
        )
    return row


# --- store robots ---------------------------------------------------------------------------------------


def parse_robot_key(value: Any) -> str:
    """The webhook key in ``value``: a bare key, or the robot's whole webhook URL (``…/webhook/send?key=…``).
    Raises ValidationFailed (field ``webhook_key``) for anything else."""
    text = str(value or "").strip()
    if text.startswith(("http://", "https://")):
        parts = urlsplit(text)
        keys = parse_qs(parts.query).get("key") or [""]
        if not parts.path.endswith("/cgi-bin/webhook/send"):
            keys = [""]
        text = keys[0].strip()
    if not _ROBOT_KEY_RE.fullmatch(text):
        raise ValidationFailed(
            _("Paste the robot's webhook address or its key (letters, digits and dashes)."),
            field="webhook_key",
        )
    return text


def _check_robot_manager(staff: Staff, store_id: Any) -> Store:
    """The store, if ``staff`` may configure its robot: head office, or a manager of that store."""
    require_staff(staff)
    store = get_store(staff, store_id)  # NotFound outside the staff member's stores
    if not (has_capability(staff, "staff.manage") or staff.role == Role.STORE_MANAGER or staff.is_superuser):
        raise PermissionDenied(
            _("Only store managers and head office configure the store robot."), field="store"
        )
    return store


def get_store_robot(staff: Staff, store_id: Any) -> tuple[Store, StoreRobot | None]:
    """The store and its robot configuration (None when it has none), if ``staff`` may configure it."""
    store = _check_robot_manager(staff, store_id)
    return store, StoreRobot.objects.filter(store=store).first()


@transaction.atomic
def set_store_robot(
    staff: Staff,
    store_id: Any,
    *,
    webhook_key: Any,
    summary_at: time | None = None,
    alerts: bool = True,
    ip: str | None = None,
) -> StoreRobot | None:
    """Set (or, with an empty key, remove) the robot of a store's internal staff group; audited.

    Guarantees: only head office or a manager of that store (NotFound for another store, PermissionDenied
    for a clerk); the key is validated (``parse_robot_key``) and never written to the audit; a changed key
    does not repeat today's summary."""
    store = _check_robot_manager(staff, store_id)
    if not str(webhook_key or "").strip():
        deleted, _rows = StoreRobot.objects.filter(store=store).delete()
        if deleted:
            record_audit(
                staff, "store_robot.remove", target_type="store", target_id=store.pk, store_id=store.pk, ip=ip
            )
        return None
    key = parse_robot_key(webhook_key)
    robot, _created = StoreRobot.objects.update_or_create(
        store=store,
        defaults={
            "webhook_key": key,
            "summary_at": summary_at or DEFAULT_SUMMARY_AT,
            "alerts": bool(alerts),
            "updated_by": staff,
        },
    )
    record_audit(
        staff,
        "store_robot.set",
        target_type="store",
        target_id=store.pk,
        store_id=store.pk,
        detail={
            "summary_at": robot.summary_at.strftime("%H:%M"),
            "alerts": robot.alerts,
            "key_end": key[-4:],
        },
        ip=ip,
    )
    return robot


def mask_key(key: str) -> str:
    """A webhook key as pages show it: only its last four characters."""
    return "…" + key[-4:] if key else ""


@dataclass(frozen=True)
class RobotTarget:
    """A store robot ready to post: its row, and the WeCom connector whose outbox carries the call."""

    robot: StoreRobot
    connector: Connector


def robot_targets() -> list[RobotTarget]:
    """Every configured store robot whose store has a WeCom app (no app: nothing is posted)."""
    out: list[RobotTarget] = []
    for robot in StoreRobot.objects.select_related("store").order_by("store_id"):
        connector = wecom_connector_for_store(robot.store)
        if connector is not None:
            out.append(RobotTarget(robot, connector))
    return out


def claim_daily_summary(robot: StoreRobot, day: Any) -> bool:
    """Take the right to post ``day``'s summary for this robot: one conditional UPDATE, so exactly one
    caller wins per store and day."""
    return bool(
        StoreRobot.objects.filter(pk=robot.pk)
        .filter(Q(last_summary_on__isnull=True) | Q(last_summary_on__lt=day))
        .update(last_summary_on=day)
    )


def claim_alerts(robot: StoreRobot, *, upto_outbox_id: int, now: datetime) -> bool:
    """Take the right to alert about failed calls after ``robot.alerted_outbox_id`` up to ``upto_outbox_id``
    (conditional UPDATE on the mark the caller read: a concurrent claim makes this one lose)."""
    return bool(
        StoreRobot.objects.filter(pk=robot.pk, alerted_outbox_id=robot.alerted_outbox_id).update(
            alerted_outbox_id=max(upto_outbox_id, robot.alerted_outbox_id), alerted_at=now
        )
    )


def post_to_store_robot(target: RobotTarget, content: dict[str, Any], *, key: str) -> OutboxMessage:
    """Queue one robot post (``{"markdown"}`` or ``{"text"}``) into the store's staff group, limited to the
    robot's 20 messages a minute (one outbox bucket per robot key). Idempotent by ``key``."""
    return enqueue(
        target.connector,
        "staff_robot_post",
        {**content, "robot_key": target.robot.webhook_key},
        bucket=robot_bucket(target.robot.webhook_key),
        idempotency_key=key,
    )


def failed_calls_since(connector: Connector, after_id: int, community_ids: list[int]) -> list[OutboxMessage]:
    """Calls for ``community_ids`` on ``connector`` that failed for good, with id above ``after_id``."""
    return list(
        OutboxMessage.objects.filter(
            connector=connector,
            status=OutboxMessage.Status.FAILED,
            pk__gt=after_id,
            community_id__in=community_ids,
        ).order_by("id")[:50]
    )


def wecom_connectors(brand_id: int) -> list[Connector]:
    """The brand's active WeCom connectors (each is one corp app holding its own welcome templates)."""
    return list(
        Connector.objects.filter(brand_id=brand_id, kind=ChannelKind.WECOM, active=True).order_by("id")
    )


def request_welcome_sync(connector: Connector, group_template_id: int) -> OutboxMessage:
    """Queue a sync of one group template's WeCom welcome template on ``connector`` (outbox action
    ``welcome_template_sync``; what to hold is asked when it runs). Call in the transaction of the edit."""
    return enqueue(
        connector,
        "welcome_template_sync",
        {"group_template_id": group_template_id},
        bucket=f"api:{connector.pk}",
        idempotency_key=f"welcome-sync:{connector.pk}:{group_template_id}:{uuid.uuid4().hex}",
    )


def already_queued(key: str) -> bool:
    """Whether an outbox call with this idempotency key exists (queued, sent or failed)."""
    return OutboxMessage.objects.filter(idempotency_key=key).exists()
