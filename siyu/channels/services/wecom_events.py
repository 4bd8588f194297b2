"""WeCom callbacks: verification, decryption, de-duplication, and what each event tells the apps above.

channels applies nothing to communities or members itself: it translates each event into
``siyu.channels.hooks`` payloads, sent in one transaction with its own bookkeeping.

- ``change_external_chat`` create (or an update of a group Siyu does not know): ``group_seen`` — communities
  places the group (a waiting group or a new one) — then everyone in it is seated;
- update add_member / del_member: the people named in the event (details from ``groupchat/get``) join
  (``member_joined``) or leave (``member_left``; without names, ``roster_seen``). Who a WeCom user is comes
  from ``identity_seen`` (members links a unionid shared with a WeChat sign-in); users it does not know are
  kept as ``WeComContact`` until they sign in (``link_wecom_contacts``);
- update change_name: ``group_renamed``; dismiss: ``group_dismissed`` (and contacts forget the chat);
- ``change_external_contact``: ``contact_changed``.

Callbacks may arrive more than once: each is stored once per ``dedup_key`` in ``InboundEvent`` (unique),
and a duplicate changes nothing. An event whose handling fails keeps its error and is retried for a day.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from siyu.channels import hooks
from siyu.channels.connectors.base import ChannelError
from siyu.channels.connectors.wecom import WeComConnector, live_code_from_state
from siyu.channels.models import ChannelKind, Connector, InboundEvent, WeComContact
from siyu.channels.wecom_crypto import WeComCrypto, WeComCryptoError, parse_envelope, parse_xml, xml_to_dict
from siyu.common.errors import ServiceError

logger = logging.getLogger("siyu.channels.wecom")

EXTERNAL = 2  # member_list type: 1 staff, 2 external contact
RETRY_WINDOW = timedelta(days=1)


def crypto_for(connector: Connector) -> WeComCrypto:
    cfg = connector.config or {}
    return WeComCrypto(str(cfg.get("token", "")), str(cfg.get("aes_key", "")), str(cfg.get("corp_id", "")))


def verify_url(connector: Connector, *, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
    """URL verification: check the signature over ``echostr`` and return its decrypted plaintext.
    Raises WeComCryptoError (signature -40001, decryption -4000x)."""
    return crypto_for(connector).verify_and_decrypt(msg_signature, timestamp, nonce, echostr).decode("utf-8")


def dedup_key(event: dict[str, Any], plaintext: bytes) -> str:
    """A key equal for redeliveries of one event: group changes by chat, change and member version;
    anything else by a hash of the decrypted XML."""
    if event.get("Event") == "change_external_chat" and event.get("ChatId"):
        version = event.get("CurMemVer") or event.get("CreateTime") or ""
        parts = ["chat", event["ChatId"], event.get("ChangeType", ""), event.get("UpdateDetail", ""), version]
        key = ":".join(str(p) for p in parts)
        if len(key) <= 200:
            return key
    return "sha256:" + hashlib.sha256(plaintext).hexdigest()


def receive_callback(
    connector: Connector, *, msg_signature: str, timestamp: str, nonce: str, body: bytes
) -> InboundEvent | None:
    """Verify, decrypt and store one callback. Returns the new InboundEvent, or None for a duplicate.

    Raises WeComCryptoError before anything is stored: -40002 for bad XML, -40001 for a wrong signature,
    other codes for decryption failures (including a receiveid that is not our CorpID).
    """
    envelope = parse_envelope(body)
    crypto = crypto_for(connector)
    crypto.check_signature(msg_signature, timestamp, nonce, envelope.encrypt)
    plaintext = crypto.decrypt(envelope.encrypt)
    event = xml_to_dict(parse_xml(plaintext))
    kind = ":".join(str(event.get(k) or "") for k in ("Event", "ChangeType", "UpdateDetail")).strip(":")
    try:
        with transaction.atomic():
            return InboundEvent.objects.create(
                connector=connector,
                dedup_key=dedup_key(event, plaintext),
                kind=(kind or str(event.get("MsgType") or "unknown"))[:64],
                payload=event,
            )
    except IntegrityError:
        return None


def process_event(row: InboundEvent) -> bool:
    """Apply one stored event; on failure the error is kept on the row and ``process_pending_events``
    tries again later. Returns whether it was applied."""
    try:
        handle_event(row.connector, row.payload)
    except (ChannelError, ServiceError, WeComCryptoError) as exc:
        InboundEvent.objects.filter(pk=row.pk).update(error=str(exc)[:2000])
        logger.warning("WeCom event %s not applied: %s", row.pk, exc)
        return False
    except Exception as exc:
        InboundEvent.objects.filter(pk=row.pk).update(error=f"{exc.__class__.__name__}: {exc}"[:2000])
        logger.exception("WeCom event %s failed", row.pk)
        return False
    InboundEvent.objects.filter(pk=row.pk).update(processed_at=timezone.now(), error="")
    return True


def process_pending_events(*, limit: int = 100, min_age: timedelta = timedelta(minutes=1)) -> int:
    """Retry WeCom events received in the last day that were not applied (for the periodic runner)."""
    now = timezone.now()
    rows = (
        InboundEvent.objects.select_related("connector")
        .filter(
            processed_at__isnull=True,
            connector__kind=ChannelKind.WECOM,
            received_at__gte=now - RETRY_WINDOW,
            received_at__lte=now - min_age,
        )
        .order_by("id")[:limit]
    )
    return sum(1 for row in rows if process_event(row))


# --- event handling ------------------------------------------------------------------------------


def handle_event(connector: Connector, event: dict[str, Any]) -> None:
    """Tell the apps above what one decrypted WeCom event means (see the module docstring)."""
    if event.get("Event") == "change_external_contact":
        with transaction.atomic():
            hooks.contact_changed.send(
                hooks.ContactChanged(
                    connector=connector,
                    change_type=str(event.get("ChangeType") or ""),
                    external_userid=str(event.get("ExternalUserID") or ""),
                    staff_userid=str(event.get("UserID") or ""),
                    state=str(event.get("State") or ""),
                )
            )
        return
    if event.get("Event") != "change_external_chat":
        return  # other events are kept in InboundEvent only
    chat_id = str(event.get("ChatId") or "")
    change = event.get("ChangeType")
    if not chat_id:
        return
    if change == "dismiss":
        _dismiss(connector, chat_id)
        return
    if change not in ("create", "update"):
        return
    impl = WeComConnector(connector)
    info = impl.groupchat_get(chat_id)
    with transaction.atomic():
        seen = hooks.GroupSeen(
            connector=connector,
            chat_id=chat_id,
            name=str(info.get("name") or ""),
            owner_userid=str(info.get("owner") or ""),
        )
        new = any(hooks.group_seen.send(seen))
        if new or change == "create":
            _seat(connector, chat_id, info, None)
            return
        detail = event.get("UpdateDetail")
        changed = _item_list(event.get("MemChangeList"))
        if detail == "add_member":
            _seat(connector, chat_id, info, changed or None)
        elif detail == "del_member":
            _unseat(connector, chat_id, info, changed or None, removed=str(event.get("QuitScene")) == "1")
        elif detail == "change_name" and info.get("name"):
            hooks.group_renamed.send(
                hooks.GroupRenamed(connector=connector, chat_id=chat_id, name=str(info["name"]))
            )


def _item_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v]
    return [str(value)] if value else []


def _identify(connector: Connector, userid: str, unionid: str = "", claimed: int | None = None) -> int | None:
    user = hooks.ChannelUser(
        brand_id=connector.brand_id,
        channel=ChannelKind.WECOM,
        external_id=userid,
        unionid=unionid,
        claimed_member_id=claimed,
    )
    return hooks.identity_seen.ask(user)


def _remember_contact(connector: Connector, entry: dict[str, Any], chat_id: str, *, present: bool) -> None:
    userid = str(entry.get("userid") or "")
    contact, _created = WeComContact.objects.select_for_update().get_or_create(
        connector=connector,
        external_userid=userid,
        defaults={"unionid": str(entry.get("unionid") or ""), "name": str(entry.get("name") or "")[:100]},
    )
    chats = [c for c in contact.chat_ids if c != chat_id] + ([chat_id] if present else [])
    contact.chat_ids = chats
    contact.unionid = contact.unionid or str(entry.get("unionid") or "")
    contact.name = contact.name or str(entry.get("name") or entry.get("group_nickname") or "")[:100]
    contact.save(update_fields=["chat_ids", "unionid", "name", "updated_at"])


def _seat(connector: Connector, chat_id: str, info: dict[str, Any], userids: list[str] | None) -> None:
    """Seat the external members of ``info`` (only those in ``userids`` when given)."""
    for entry in info.get("member_list") or []:
        if int(entry.get("type") or 0) != EXTERNAL:
            continue
        userid = str(entry.get("userid") or "")
        if not userid or (userids is not None and userid not in userids):
            continue
        member_id = _identify(connector, userid, str(entry.get("unionid") or ""))
        if member_id is None:
            _remember_contact(connector, entry, chat_id, present=True)
        else:
            joined = hooks.MemberJoined(
                connector=connector,
                chat_id=chat_id,
                member_id=member_id,
                live_code_id=live_code_from_state(str(entry.get("state") or "")),
            )
            hooks.member_joined.send(joined)


def _unseat(
    connector: Connector, chat_id: str, info: dict[str, Any], userids: list[str] | None, *, removed: bool
) -> None:
    """People named in ``userids`` left; without a list, everyone seated with a WeCom identity who is no
    longer in ``member_list`` left (``roster_seen``: people without one cannot be judged absent)."""
    present = {str(e.get("userid")) for e in info.get("member_list") or []}
    if userids is None:
        roster = hooks.RosterSeen(
            connector=connector,
            chat_id=chat_id,
            channel=ChannelKind.WECOM,
            present=frozenset(present),
            removed=removed,
        )
        hooks.roster_seen.send(roster)
        return
    for userid in userids:
        if userid in present:
            continue  # left and came back before we looked
        member_id = _identify(connector, userid)
        if member_id is not None:
            left = hooks.MemberLeft(
                connector=connector, chat_id=chat_id, member_id=member_id, removed=removed, reason="wecom"
            )
            hooks.member_left.send(left)
        elif WeComContact.objects.filter(connector=connector, external_userid=userid).exists():
            _remember_contact(connector, {"userid": userid}, chat_id, present=False)


def _dismiss(connector: Connector, chat_id: str) -> None:
    with transaction.atomic():
        hooks.group_dismissed.send(hooks.GroupDismissed(connector=connector, chat_id=chat_id))
        for contact in WeComContact.objects.select_for_update().filter(connector=connector):
            if chat_id in contact.chat_ids:
                contact.chat_ids = [c for c in contact.chat_ids if c != chat_id]
                contact.save(update_fields=["chat_ids", "updated_at"])


def link_wecom_contacts(member_id: int, *, brand_id: int, unionids: Iterable[str]) -> int:
    """Link the WeCom contacts of ``brand_id`` that share one of ``unionids`` with the member who just signed
    in with WeChat (``identity_seen`` with the member claimed), and seat them in the groups the contact is in
    (``member_joined``). Returns the groups joined. Called by members after a WeChat sign-in."""
    wanted = {u for u in unionids if u}
    if not wanted:
        return 0
    joined = 0
    with transaction.atomic():
        for contact in (
            WeComContact.objects.select_for_update()
            .filter(unionid__in=wanted, member__isnull=True, connector__brand_id=brand_id)
            .select_related("connector")
        ):
            owner = _identify(contact.connector, contact.external_userid, contact.unionid, claimed=member_id)
            if owner is None:
                continue
            contact.member_id = owner
            contact.save(update_fields=["member", "updated_at"])
            for chat_id in contact.chat_ids:
                event = hooks.MemberJoined(connector=contact.connector, chat_id=chat_id, member_id=owner)
                if any(hooks.member_joined.send(event)):
                    joined += 1
    return joined
