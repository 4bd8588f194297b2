"""One dispatcher for every post Siyu makes into a group (ADR 0012).

``dispatch`` picks the path the group's channel declares (``ChannelConnector.delivery_paths``) and records
the post's journey as a ``GroupDelivery``:

- ``auto`` (web, Telegram): queued in the outbox in the caller's transaction; ``sent`` when the provider
  accepted it, ``failed`` (with the provider's reason) when it refused for good.
- ``owner_confirm`` (WeCom, a post that can wait): ``pending`` until the mass-message batcher gathers it into
  the group owner's next mass message within the group's monthly quota (``waiting_owner``); the owner's
  confirmation read back from WeCom makes it ``confirmed``; unconfirmed and stale, ``expired``.
- ``staff`` (WeCom, a post that cannot wait or a group out of quota): ``waiting_staff`` until a staff member
  sends it from the sidebar (``confirmed``, with who did it) or it goes stale (``expired``).

Built-in web groups need no delivery: the message stored in Siyu is the post. No code path addresses "the
connector" when it means a group: a group without a channel id is recorded ``failed`` with the reason.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from siyu.channels import hooks as channel_hooks
from siyu.channels.connectors.base import DeliveryPath
from siyu.channels.models import ChannelKind
from siyu.channels.services import outbox
from siyu.common.errors import NotFound
from siyu.communities.models import Community, GroupDelivery, Message
from siyu.communities.services import mass
from siyu.communities.services.activity import group_link_content
from siyu.org.models import Staff
from siyu.org.services.access import can_access_store

logger = logging.getLogger("siyu.communities.dispatch")

OPEN_STATUSES = (
    GroupDelivery.Status.PENDING,
    GroupDelivery.Status.WAITING_OWNER,
    GroupDelivery.Status.WAITING_STAFF,
)


def channel_bucket(community: Community) -> str:
    """The outbox rate-limit bucket of a group's automatic posts: one chat."""
    return f"chat:{community.external_id}"


def dispatch(
    community: Community,
    content: dict[str, Any],
    *,
    kind: str,
    key: str,
    message: Message | None = None,
    can_wait: bool = True,
    expires_at: datetime | None = None,
) -> GroupDelivery | None:
    """Send ``content`` (one of text / markdown / card / image_b64) into ``community`` by the path its channel
    allows, in the caller's transaction. Idempotent per (group, ``key``): the existing delivery is returned.

    Returns None for built-in web groups (the stored message is the post).
    """
    connector = community.connector
    if connector is None or community.channel == ChannelKind.WEB:
        return None
    existing = GroupDelivery.objects.filter(community=community, idempotency_key=key).first()
    if existing is not None:
        return existing
    if "card" in content:
        content = {**content, "card": absolute_card(content["card"])}
    impl = outbox.get_connector(connector)
    fields: dict[str, Any] = {
        "community": community,
        "message": message,
        "kind": kind,
        "content": content,
        "can_wait": can_wait,
        "expires_at": expires_at,
        "idempotency_key": key,
    }
    # Reasons are stored in the brand's language: they are read later, by anyone.
    language = translation.override(settings.LANGUAGE_CODE)
    if not community.external_id:
        with language:
            fields.update(
                path=impl.delivery_paths[0],
                status=GroupDelivery.Status.FAILED,
                reason=_(
                    "The group has not been created on its channel yet, so there is no chat to post to."
                ),
            )
    elif impl.can_deliver(DeliveryPath.AUTO):
        fields.update(path=GroupDelivery.Path.AUTO, status=GroupDelivery.Status.PENDING)
    elif can_wait and impl.can_deliver(DeliveryPath.OWNER_CONFIRM) and community.channel_owner:
        fields.update(
            path=GroupDelivery.Path.OWNER_CONFIRM,
            status=GroupDelivery.Status.PENDING,
            owner_userid=community.channel_owner,
        )
    elif can_wait and impl.can_deliver(DeliveryPath.OWNER_CONFIRM) and impl.can_deliver(DeliveryPath.STAFF):
        with language:
            fields.update(
                path=GroupDelivery.Path.STAFF,
                status=GroupDelivery.Status.WAITING_STAFF,
                reason=_("The group's owner is not known yet, so no mass message can be prepared."),
            )
    else:
        fields.update(path=GroupDelivery.Path.STAFF, status=GroupDelivery.Status.WAITING_STAFF)
    if fields["path"] != GroupDelivery.Path.OWNER_CONFIRM:
        # Content made for this one group: its card's Siyu link carries the group (``?g=``) where messages
        # cannot be read, so opens are seen. A mass message carries one content for all its groups: untagged.
        content = fields["content"] = group_link_content(content, community)
    try:
        with transaction.atomic():
            delivery = GroupDelivery.objects.create(**fields)
    except IntegrityError:
        return GroupDelivery.objects.get(community=community, idempotency_key=key)
    if delivery.path == GroupDelivery.Path.AUTO and delivery.status == GroupDelivery.Status.PENDING:
        row = outbox.enqueue(
            connector,
            "post",
            {"chat_id": community.external_id, **content},
            bucket=channel_bucket(community),
            idempotency_key=f"delivery:{delivery.pk}",
            community_id=community.pk,
        )
        GroupDelivery.objects.filter(pk=delivery.pk).update(outbox_id=row.pk)
        delivery.outbox_id = row.pk
    return delivery


def absolute_card(card: dict[str, Any]) -> dict[str, Any]:
    """Channels open card links outside Siyu: links within Siyu ("/h5/…") get the site's public address
    (``SIYU_PUBLIC_URL``). Without it they are sent as they are, and a warning says so."""
    base = (getattr(settings, "SIYU_PUBLIC_URL", "") or "").rstrip("/")
    card = dict(card)
    for field in ("url", "image_url"):
        value = str(card.get(field) or "")
        if value.startswith("/") and not value.startswith("//"):
            if base:
                card[field] = base + value
            else:
                logger.warning("SIYU_PUBLIC_URL is not set: a card links to %s in its channel", value)
    return card


# --- outcomes of automatic posts (told by the outbox) ----------------------------------------------------


def on_outbox_confirmed(delivery: channel_hooks.Delivery) -> None:
    if delivery.action == "mass_message":
        mass.on_mass_created(delivery)
        return
    GroupDelivery.objects.filter(outbox_id=delivery.outbox_id, status=GroupDelivery.Status.PENDING).update(
        status=GroupDelivery.Status.SENT, delivered_at=timezone.now()
    )


def on_outbox_failed(delivery: channel_hooks.Delivery) -> None:
    if delivery.action == "mass_message":
        mass.on_mass_refused(delivery)
        return
    GroupDelivery.objects.filter(outbox_id=delivery.outbox_id, status=GroupDelivery.Status.PENDING).update(
        status=GroupDelivery.Status.FAILED, reason=delivery.error[:300]
    )


# --- staff path ---------------------------------------------------------------------------------------


def waiting_for_staff(community: Community) -> list[GroupDelivery]:
    """What a staff member can send into ``community`` now, oldest first (expired ones left out)."""
    now = timezone.now()
    rows = GroupDelivery.objects.filter(
        community=community, status=GroupDelivery.Status.WAITING_STAFF
    ).order_by("id")
    return [d for d in rows if d.expires_at is None or d.expires_at > now]


def mark_sent_by_staff(staff: Staff, delivery_id: int) -> GroupDelivery:
    """Record that ``staff`` put a waiting delivery into its group (sidebar send or copy).

    Guarantees: only staff of the group's store (or HQ) may (NotFound otherwise, nothing changed); one
    conditional UPDATE, so two taps — or two staff members — record it once; the first sender is kept;
    idempotent for a delivery already confirmed.
    """
    delivery = GroupDelivery.objects.select_related("community").filter(pk=delivery_id).first()
    if delivery is None or not can_access_store(staff, delivery.community.store_id):
        raise NotFound(_("No such post."), field="delivery")
    GroupDelivery.objects.filter(pk=delivery.pk, status=GroupDelivery.Status.WAITING_STAFF).update(
        status=GroupDelivery.Status.CONFIRMED, done_by=staff, delivered_at=timezone.now()
    )
    delivery.refresh_from_db()
    return delivery
