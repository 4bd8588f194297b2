"""Keeping each WeCom live code's join way (群活码, scene 2) pointed at groups that still have room.

A Siyu live code on WeCom is backed by one WeCom join way listing up to 5 of the set's groups. WeCom fills
them in order and, when all are full, creates the next group itself (``auto_create_room``, named
``room_base_name`` + ``room_base_id``); its ``change_external_chat`` create callback then registers the new
group (``wecom_events`` → ``hooks.group_seen``) and queues ``join_way_sync`` again.

Which groups to list is communities' knowledge: the sync asks for it through ``hooks.join_way_spec`` when it
runs (``siyu.channels.connectors.wecom.sync_join_way``, performed by the outbox action ``join_way_sync``).
"""

from __future__ import annotations

import uuid

from siyu.channels.connectors.wecom import join_way_state, live_code_from_state, sync_join_way
from siyu.channels.models import Connector, OutboxMessage, WeComJoinWay
from siyu.channels.services.outbox import bucket_for, enqueue

__all__ = ["join_way_qr", "join_way_state", "live_code_from_state", "request_sync", "sync_join_way"]


def join_way_qr(live_code_id: int) -> str:
    """The WeCom QR image URL members scan for this live code ("" before the first WeCom group exists)."""
    way = WeComJoinWay.objects.filter(live_code_id=live_code_id).only("qr_code").first()
    return way.qr_code if way else ""


def request_sync(connector: Connector, live_code_id: int) -> OutboxMessage | None:
    """Queue a join-way sync (outbox action ``join_way_sync``) unless one is already waiting; call inside the
    transaction that changed the set."""
    waiting = OutboxMessage.objects.filter(
        connector=connector,
        action="join_way_sync",
        status=OutboxMessage.Status.PENDING,
        sent_at__isnull=True,
        payload__live_code_id=live_code_id,
    ).first()
    if waiting is not None:
        return waiting
    payload = {"live_code_id": live_code_id}
    return enqueue(
        connector,
        "join_way_sync",
        payload,
        bucket=bucket_for(connector, "join_way_sync", payload),
        idempotency_key=f"jws:{live_code_id}:{uuid.uuid4().hex}",
    )
