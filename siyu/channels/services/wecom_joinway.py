"""Keeping each WeCom live code's join way (群活码, scene 2) pointed at groups that still have room.

A Siyu live code on WeCom is backed by one WeCom join way listing up to 5 of the set's groups. WeCom fills
them in order and, when all are full, creates the next group itself (``auto_create_room``, named
``room_base_name`` + ``room_base_id``); its ``change_external_chat`` create callback then registers the new
group in Siyu (``wecom_events``) and calls ``sync_join_way`` again.
"""

from __future__ import annotations

import logging
import uuid

from django.db import IntegrityError, transaction
from django.db.models import Max

from siyu.channels.connectors.wecom import WeComConnector
from siyu.channels.models import ChannelKind, Connector, OutboxMessage, WeComJoinWay
from siyu.communities.models import Community, LiveCode

logger = logging.getLogger("siyu.channels.wecom")

STATE_PREFIX = "siyu-lc"


def join_way_state(live_code_id: int) -> str:
    """The ``state`` our join ways carry; WeCom returns it on each member who joined through it."""
    return f"{STATE_PREFIX}{live_code_id}"


def live_code_from_state(state: str) -> int | None:
    if state and state.startswith(STATE_PREFIX) and state[len(STATE_PREFIX) :].isdigit():
        return int(state[len(STATE_PREFIX) :])
    return None


def room_base_name(code: LiveCode) -> str:
    """Prefix of the groups WeCom auto-creates for a code: the same ``<store>·<base name>`` as Siyu's own."""
    return f"{code.store.name}·{code.template.base_name}"[:40]


def set_groups(code: LiveCode) -> list[Community]:
    """The code's WeCom groups to list in the join way: open, created on WeCom, with room — those under
    their recommended size, else those under the hard cap — fullest first, at most 5."""
    groups = list(
        Community.objects.filter(
            store_id=code.store_id,
            template_id=code.template_id,
            channel=ChannelKind.WECOM,
            connector=code.connector,
            status=Community.Status.OPEN,
        )
        .exclude(external_id="")
        .order_by("-member_count", "sequence", "id")
    )
    roomy = [g for g in groups if g.member_count < g.recommended_size]
    if not roomy:
        roomy = [g for g in groups if g.member_count < g.hard_cap]
    return roomy[:5]


def sync_join_way(live_code_id: int) -> WeComJoinWay | None:
    """Create or update the WeCom join way of one live code so it lists the set's groups with room.

    Guarantees: creates the join way (add_join_way + get_join_way for the QR) the first time there is a
    group to list; afterwards updates it only when the list changed; returns None (nothing called) for a
    code that is not on WeCom or has no WeCom group yet. Provider calls happen outside any transaction;
    raises ChannelError when WeCom refuses (the outbox retries ``join_way_sync``).
    """
    code = LiveCode.objects.select_related("store", "template", "connector").filter(pk=live_code_id).first()
    if code is None or code.channel != ChannelKind.WECOM or code.connector is None:
        return None
    impl = WeComConnector(code.connector)
    chat_ids = [g.external_id for g in set_groups(code)]
    way = WeComJoinWay.objects.filter(live_code_id=code.pk).first()
    if not chat_ids:
        # Nothing has room: keep the current join way; WeCom's auto_create_room opens the next group.
        return way
    top = Community.objects.filter(
        store_id=code.store_id, template_id=code.template_id, channel=ChannelKind.WECOM
    ).aggregate(m=Max("sequence"))["m"]
    state, remark, base_name, base_id = (
        join_way_state(code.pk),
        code.name[:30],
        room_base_name(code),
        (top or 0) + 1,
    )
    if way is None:
        config_id = impl.add_join_way(
            chat_ids, state=state, remark=remark, room_base_name=base_name, room_base_id=base_id
        )
        qr_code = str(impl.get_join_way(config_id).get("qr_code") or "")
        try:
            with transaction.atomic():
                return WeComJoinWay.objects.create(
                    connector=code.connector,
                    live_code_id=code.pk,
                    config_id=config_id,
                    chat_ids=chat_ids,
                    qr_code=qr_code,
                )
        except IntegrityError:
            # A concurrent sync created it first: drop our duplicate on WeCom and use theirs.
            impl.del_join_way(config_id)
            way = WeComJoinWay.objects.get(live_code_id=code.pk)
    if list(way.chat_ids) != chat_ids or not way.qr_code:
        impl.update_join_way(
            way.config_id,
            chat_ids,
            state=state,
            remark=remark,
            room_base_name=base_name,
            room_base_id=base_id,
        )
        way.chat_ids = chat_ids
        if not way.qr_code:
            way.qr_code = str(impl.get_join_way(way.config_id).get("qr_code") or "")
        way.save(update_fields=["chat_ids", "qr_code", "updated_at"])
    return way


def join_way_qr(live_code_id: int) -> str:
    """The WeCom QR image URL members scan for this live code ("" before the first WeCom group exists)."""
    way = WeComJoinWay.objects.filter(live_code_id=live_code_id).only("qr_code").first()
    return way.qr_code if way else ""


def request_sync(connector: Connector, live_code_id: int) -> OutboxMessage | None:
    """Queue a join-way sync (outbox action ``join_way_sync``) unless one is already waiting; call inside the
    transaction that changed the set."""
    from siyu.channels.services.outbox import bucket_for, enqueue

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


def request_sync_for_community(community: Community) -> list[OutboxMessage]:
    """Queue syncs for every WeCom live code whose set ``community`` belongs to."""
    if community.channel != ChannelKind.WECOM or community.connector is None:
        return []
    codes = LiveCode.objects.filter(
        store_id=community.store_id,
        template_id=community.template_id,
        channel=ChannelKind.WECOM,
        connector=community.connector,
        active=True,
    ).values_list("id", flat=True)
    rows = [request_sync(community.connector, code_id) for code_id in codes]
    return [r for r in rows if r is not None]
