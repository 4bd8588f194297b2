"""WeCom mass messages (群发) for the posts that can wait: batched per owner, within each group's quota.

A post into a WeCom customer group that can wait is a ``GroupDelivery`` on the ``owner_confirm`` path,
``pending`` (``dispatch.dispatch``). ``batch_mass_messages`` (a periodic job, every minute) gathers the
pending deliveries per (connector, group owner, identical content) into one ``add_msg_template`` (``sender`` =
the owner, ``chat_id_list`` ≤ 2,000 groups) through the outbox (action ``mass_message``). The owner confirms
it in the WeCom client; ``siyu.channels.services.wecom_mass`` reads the outcome back per group, reminds and
cancels, and tells us through ``channels.hooks.mass_results``.

Guarantees:
- the per-group quota of the connector (``config["mass_quota"]``, see ``wecom.mass_quota`` in channels) is
  reserved before a group goes into a mass message, by one conditional UPDATE (``used < limit``) on the
  group's ``MassQuota`` row of the period (unique per group and period), so concurrent batchers never exceed
  it; a group out of quota gets its post on the staff path (``waiting_staff``) with the reason;
- a delivery is batched once: it is taken under a row lock (``SKIP LOCKED``) and tied to its outbox row by a
  conditional UPDATE (``outbox_id`` from NULL) in the same transaction;
- content a mass message cannot carry (a picture, which needs an uploaded media id) goes to staff;
- pending deliveries past their ``expires_at`` expire instead of being sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from siyu.channels import hooks as channel_hooks
from siyu.channels.connectors.wecom import (
    MASS_ATTACHMENTS_MAX,
    MASS_CHATS_MAX,
    MASS_TEXT_MAX,
    MassQuota,
    WeComConnector,
)
from siyu.channels.models import ChannelKind, Connector
from siyu.channels.services import outbox
from siyu.communities.models import Community, GroupDelivery
from siyu.communities.models import MassQuota as QuotaRow
from siyu.communities.services import staff_push

logger = logging.getLogger("siyu.communities.mass")

BATCH_ROWS = 5000  # deliveries looked at per (connector, owner) per run


def _reason_quota() -> str:
    return _("Monthly mass-message quota used: a staff member sends it from the sidebar.")


# --- quota -------------------------------------------------------------------------------------------


def reserve_quota(community: Community, quota: MassQuota) -> bool:
    """Take one mass message of ``community``'s quota for ``quota.period``; False when it is used up.

    One conditional UPDATE (``used < limit``) on the (group, period) row, which a unique constraint keeps
    single: two concurrent reservations for the last slot cannot both succeed.
    """
    if quota.limit <= 0:
        return False
    try:
        with transaction.atomic():
            QuotaRow.objects.get_or_create(community=community, period=quota.period)
    except IntegrityError:
        pass  # created concurrently: the row is there now
    return (
        QuotaRow.objects.filter(community=community, period=quota.period, used__lt=quota.limit).update(
            used=F("used") + 1
        )
        == 1
    )


def release_quota(community_id: int, period: str) -> None:
    """Give back one reserved mass message (WeCom refused the group, or the mass message was never made)."""
    QuotaRow.objects.filter(community_id=community_id, period=period, used__gt=0).update(used=F("used") - 1)


def quota_used(community: Community, period: str) -> int:
    row = QuotaRow.objects.filter(community=community, period=period).values_list("used", flat=True).first()
    return int(row or 0)


# --- batching ----------------------------------------------------------------------------------------


def _mass_body(content: dict[str, Any]) -> dict[str, Any] | None:
    """The ``add_msg_template`` text / attachments for a delivery's content; None when a mass message cannot
    carry it (a picture needs a media id uploaded first)."""
    if content.get("text"):
        return {"text": str(content["text"])}
    if content.get("markdown"):
        return {"text": str(content["markdown"])}
    card = content.get("card")
    if isinstance(card, dict) and card.get("url"):
        link: dict[str, Any] = {"title": str(card.get("title") or ""), "url": str(card["url"])}
        if card.get("description"):
            link["desc"] = str(card["description"])
        if card.get("image_url"):
            link["picurl"] = str(card["image_url"])
        return {"attachments": [{"msgtype": "link", "link": link}]}
    return None


def _batch_mass_messages(now: datetime | None = None) -> int:
    """Periodic job (every minute): gather pending owner-confirmed deliveries into mass messages; returns
    how many mass messages were queued. Safe to run concurrently (see the module's guarantees)."""
    now = now or timezone.now()
    expire_stale_pending(now)
    owners = (
        GroupDelivery.objects.filter(
            status=GroupDelivery.Status.PENDING,
            path=GroupDelivery.Path.OWNER_CONFIRM,
            outbox_id__isnull=True,
        )
        .values_list("community__connector_id", "owner_userid")
        .distinct()
    )
    queued = 0
    for connector_id, owner in sorted(set(owners), key=lambda k: (k[0] or 0, k[1])):
        connector = Connector.objects.filter(pk=connector_id, kind=ChannelKind.WECOM).first()
        if connector is None:
            continue
        queued += _batch_owner(connector, owner, now)
    return queued


def expire_stale_pending(now: datetime) -> int:
    """Pending owner-confirmed deliveries past their ``expires_at`` (not yet in a mass message) expire."""
    return GroupDelivery.objects.filter(
        status=GroupDelivery.Status.PENDING,
        path=GroupDelivery.Path.OWNER_CONFIRM,
        outbox_id__isnull=True,
        expires_at__lte=now,
    ).update(status=GroupDelivery.Status.EXPIRED, reason=_("It was no longer current when its turn came."))


def _merge(deliveries: list[GroupDelivery]) -> tuple[dict[str, Any], list[GroupDelivery]]:
    """One group's waiting posts as one mass message (texts joined, cards as link attachments), oldest first,
    as many as fit (4,000 bytes of text, 9 attachments); the rest wait for the next one."""
    texts: list[str] = []
    attachments: list[dict[str, Any]] = []
    taken: list[GroupDelivery] = []
    for delivery in deliveries:
        body = _mass_body(delivery.content)
        assert body is not None
        new_texts = texts + ([body["text"]] if "text" in body else [])
        new_attachments = attachments + list(body.get("attachments") or [])
        if taken and (
            len("\n\n".join(new_texts).encode("utf-8")) > MASS_TEXT_MAX
            or len(new_attachments) > MASS_ATTACHMENTS_MAX
        ):
            break
        texts, attachments = new_texts, new_attachments
        taken.append(delivery)
    merged: dict[str, Any] = {}
    if texts:
        merged["text"] = "\n\n".join(texts)
    if attachments:
        merged["attachments"] = attachments
    return merged, taken


def _batch_owner(connector: Connector, owner: str, now: datetime) -> int:
    impl = WeComConnector(connector)
    quota = impl.mass_quota(now)
    queued = 0
    with transaction.atomic():
        qs = GroupDelivery.objects.filter(
            status=GroupDelivery.Status.PENDING,
            path=GroupDelivery.Path.OWNER_CONFIRM,
            outbox_id__isnull=True,
            community__connector=connector,
            owner_userid=owner,
        )
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        rows = list(qs.select_related("community").order_by("id")[:BATCH_ROWS])
        to_staff: dict[str, list[int]] = defaultdict(list)
        per_group: dict[int, list[GroupDelivery]] = defaultdict(list)
        for delivery in rows:
            if _mass_body(delivery.content) is None or not owner:
                to_staff[_("A mass message cannot carry this content: a staff member sends it.")].append(
                    delivery.pk
                )
            else:
                per_group[delivery.community_id].append(delivery)
        # Per group: its waiting posts in one mass message; groups with the same message share one.
        by_body: dict[str, list[tuple[Community, list[GroupDelivery]]]] = defaultdict(list)
        bodies: dict[str, dict[str, Any]] = {}
        for deliveries in per_group.values():
            body, taken = _merge(deliveries)
            if not reserve_quota(taken[0].community, quota):
                to_staff[_reason_quota()].extend(d.pk for d in deliveries)
                continue
            sig = json.dumps(body, sort_keys=True, ensure_ascii=False)
            by_body[sig].append((taken[0].community, taken))
            bodies[sig] = body
        for sig, groups in by_body.items():
            for start in range(0, len(groups), MASS_CHATS_MAX):
                _queue(connector, owner, quota, bodies[sig], groups[start : start + MASS_CHATS_MAX])
                queued += 1
        for reason, ids in to_staff.items():
            GroupDelivery.objects.filter(pk__in=ids, status=GroupDelivery.Status.PENDING).update(
                path=GroupDelivery.Path.STAFF, status=GroupDelivery.Status.WAITING_STAFF, reason=reason
            )
    return queued


def _queue(
    connector: Connector,
    owner: str,
    quota: MassQuota,
    body: dict[str, Any],
    groups: list[tuple[Community, list[GroupDelivery]]],
) -> None:
    ids = sorted(d.pk for _c, taken in groups for d in taken)
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:24]
    key = f"mass:{connector.pk}:{digest}"
    expiries = [d.expires_at for _c, taken in groups for d in taken if d.expires_at is not None]
    payload: dict[str, Any] = {
        "sender": owner,
        "chat_id_list": [community.external_id for community, _t in groups],
        "key": key,
        "quota_period": quota.period,
        **body,
    }
    if expiries:
        payload["expires_at"] = min(expiries).isoformat()
    row = outbox.enqueue(
        connector, "mass_message", payload, bucket=f"api:{connector.pk}", idempotency_key=key
    )
    moved = GroupDelivery.objects.filter(
        pk__in=ids, status=GroupDelivery.Status.PENDING, outbox_id__isnull=True
    ).update(outbox_id=row.pk)
    if moved != len(ids):
        raise RuntimeError("a batched delivery was taken by another batcher")  # rolls the batch back


# --- outcomes ----------------------------------------------------------------------------------------


def _on_mass_created(delivery: channel_hooks.Delivery) -> None:
    """WeCom accepted the mass message: its groups wait for the owner; those in ``fail_list`` failed."""
    msgid = str(delivery.result.get("msgid") or "")
    failed = {str(c) for c in delivery.result.get("fail_list") or []}
    rows = list(
        GroupDelivery.objects.filter(outbox_id=delivery.outbox_id, status=GroupDelivery.Status.PENDING)
        .select_related("community")
        .only("pk", "community__external_id", "community_id")
    )
    refused = [d.pk for d in rows if d.community.external_id in failed]
    if refused:
        GroupDelivery.objects.filter(pk__in=refused).update(
            status=GroupDelivery.Status.FAILED,
            mass_msgid=msgid,
            reason=_("WeCom refused this group for the mass message (is the owner still its owner?)."),
        )
        period = _period_of(delivery)
        if period:
            for d in rows:
                if d.pk in refused:
                    release_quota(d.community_id, period)
    GroupDelivery.objects.filter(outbox_id=delivery.outbox_id, status=GroupDelivery.Status.PENDING).exclude(
        pk__in=refused
    ).update(status=GroupDelivery.Status.WAITING_OWNER, mass_msgid=msgid)
    _ask_owners(msgid)


def _ask_owners(msgid: str) -> None:
    """A CONFIRM_MASS task per (store, owner) whose groups wait for ``msgid``: pushed to the owner's WeCom."""
    groups: dict[tuple[int, str], set[int]] = {}
    waiting = GroupDelivery.objects.filter(mass_msgid=msgid, status=GroupDelivery.Status.WAITING_OWNER)
    for store_id, owner, community_id in waiting.values_list(
        "community__store_id", "owner_userid", "community_id"
    ):
        if owner:
            groups.setdefault((store_id, owner), set()).add(community_id)
    for (store_id, owner), community_ids in groups.items():
        staff_push.ask_owner_to_confirm_mass(
            store_id=store_id,
            owner_userid=owner,
            msgid=msgid,
            group_count=len(community_ids),
            community_id=next(iter(community_ids)) if len(community_ids) == 1 else None,
        )


def _period_of(delivery: channel_hooks.Delivery) -> str:
    from_row = outbox.payload_of(delivery.outbox_id)
    return str(from_row.get("quota_period") or "")


def _on_mass_refused(delivery: channel_hooks.Delivery) -> None:
    """WeCom refused the mass message for good: its posts go to staff, their quota is given back."""
    period = _period_of(delivery)
    rows = list(
        GroupDelivery.objects.filter(
            outbox_id=delivery.outbox_id, status=GroupDelivery.Status.PENDING
        ).values_list("pk", "community_id")
    )
    for _pk, community_id in rows:
        if period:
            release_quota(community_id, period)
    reason = _("The mass message could not be created (%(error)s): a staff member sends it.") % {
        "error": delivery.error[:200]
    }
    GroupDelivery.objects.filter(pk__in=[pk for pk, _c in rows]).update(
        path=GroupDelivery.Path.STAFF, status=GroupDelivery.Status.WAITING_STAFF, reason=reason[:300]
    )


def _on_mass_results(results: channel_hooks.MassResults) -> None:
    """Record what WeCom reports per group of a mass message on the groups' deliveries (only those still
    waiting for the owner change: repeated reports change nothing)."""
    by_chat = {c.chat_id: c for c in results.chats}
    communities = dict(
        Community.objects.filter(connector=results.connector, external_id__in=list(by_chat)).values_list(
            "external_id", "pk"
        )
    )
    for chat_id, outcome in by_chat.items():
        community_id = communities.get(chat_id)
        if community_id is None:
            continue
        waiting = GroupDelivery.objects.filter(
            community_id=community_id, mass_msgid=results.msgid, status=GroupDelivery.Status.WAITING_OWNER
        )
        if outcome.expired:
            waiting.update(
                status=GroupDelivery.Status.EXPIRED,
                reason=_("The owner did not confirm the mass message in time; it was cancelled."),
            )
        elif outcome.status == 1:
            waiting.update(
                status=GroupDelivery.Status.CONFIRMED, delivered_at=outcome.send_time or timezone.now()
            )
        elif outcome.status == 2:
            waiting.update(
                status=GroupDelivery.Status.FAILED,
                reason=_(
                    "WeCom did not send it: the owner is not a friend of this group's members any more."
                ),
            )
        elif outcome.status == 3:
            waiting.update(
                status=GroupDelivery.Status.FAILED,
                reason=_("WeCom did not send it: this group already received another mass message."),
            )
    if not GroupDelivery.objects.filter(
        mass_msgid=results.msgid, status=GroupDelivery.Status.WAITING_OWNER
    ).exists():
        staff_push.mass_message_settled(results.msgid)


# --- entry points: reasons are stored in the brand's language (they are read later, by anyone) -------


def batch_mass_messages(now: datetime | None = None) -> int:
    """Periodic job (every minute): gather pending owner-confirmed deliveries into mass messages; returns
    how many mass messages were queued. Safe to run concurrently (see the module's guarantees)."""
    with translation.override(settings.LANGUAGE_CODE):
        return _batch_mass_messages(now)


def on_mass_created(delivery: channel_hooks.Delivery) -> None:
    """WeCom accepted the mass message: its groups wait for the owner; those in ``fail_list`` failed."""
    with translation.override(settings.LANGUAGE_CODE):
        _on_mass_created(delivery)


def on_mass_refused(delivery: channel_hooks.Delivery) -> None:
    """WeCom refused the mass message for good: its posts go to staff, their quota is given back."""
    with translation.override(settings.LANGUAGE_CODE):
        _on_mass_refused(delivery)


def on_mass_results(results: channel_hooks.MassResults) -> None:
    """Record what WeCom reports per group of a mass message on the groups' deliveries (only those still
    waiting for the owner change: repeated reports change nothing)."""
    with translation.override(settings.LANGUAGE_CODE):
        _on_mass_results(results)
