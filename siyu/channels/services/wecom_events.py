"""WeCom callbacks: verification, decryption, de-duplication, and what each event changes in Siyu.

- ``change_external_chat`` create: the new chat becomes a waiting (pending) group of the connector's store —
  the one staff were asked to create — or else a newly registered group; its members are seated; the live
  codes of its set get their join way re-synced.
- update add_member / del_member: the members named in the event join or leave (details from
  ``groupchat/get``); WeCom users not known as members are kept as ``WeComContact`` until they sign in.
- update change_name: the group's name follows WeCom's.
- dismiss: the group is archived and everyone in it has left.

Callbacks may arrive more than once: each is stored once per ``dedup_key`` in ``InboundEvent`` (unique),
and a duplicate changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from siyu.channels.connectors.base import ChannelError
from siyu.channels.connectors.wecom import WeComConnector
from siyu.channels.models import ChannelKind, Connector, InboundEvent, WeComContact
from siyu.channels.services.wecom_joinway import (
    live_code_from_state,
    request_sync_for_community,
    room_base_name,
)
from siyu.channels.wecom_crypto import WeComCrypto, WeComCryptoError, parse_envelope, parse_xml, xml_to_dict
from siyu.common.errors import ServiceError
from siyu.communities.models import Community, CommunityMembership, JoinScene, LiveCode, StaffTask
from siyu.communities.models.groups import CHANNEL_HARD_CAP
from siyu.communities.services.joining import join_community, leave_community
from siyu.members.models import ChannelIdentity, Member
from siyu.org.models import Store

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
    """Apply one decrypted WeCom event to Siyu (see the module docstring)."""
    if event.get("Event") != "change_external_chat":
        return  # contact events need nothing from Siyu yet; they are kept in InboundEvent
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
        community = Community.objects.filter(connector=connector, external_id=chat_id).first()
        if community is None:
            community = _attach_or_register(connector, chat_id, info)
            if community is None:
                raise ChannelError(f"no store for new WeCom group {chat_id}: set store_code", retryable=False)
            _seat(community, info, None)
        elif change == "update":
            detail = event.get("UpdateDetail")
            changed = _item_list(event.get("MemChangeList"))
            if detail == "add_member":
                _seat(community, info, changed or None)
            elif detail == "del_member":
                _unseat(community, info, changed or None, removed=str(event.get("QuitScene")) == "1")
            elif detail == "change_name" and info.get("name"):
                Community.objects.filter(pk=community.pk).update(name=str(info["name"])[:80])
        else:
            _seat(community, info, None)
        request_sync_for_community(community)


def _item_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v]
    return [str(value)] if value else []


def _open_pending(community: Community, chat_id: str, name: str) -> Community:
    community.external_id = chat_id
    community.status = Community.Status.OPEN
    community.save(update_fields=["external_id", "status"])
    StaffTask.objects.filter(
        community=community, kind=StaffTask.Kind.CREATE_GROUP, status=StaffTask.Status.OPEN
    ).update(status=StaffTask.Status.DONE, done_at=timezone.now())
    logger.info("WeCom group %s (%s) is Siyu group %s", chat_id, name, community.pk)
    return community


def _code_for_name(connector: Connector, name: str) -> LiveCode | None:
    # Groups WeCom auto-creates from a join way are named room_base_name + n.
    if not name:
        return None
    codes = LiveCode.objects.select_related("store", "template").filter(
        connector=connector, channel=ChannelKind.WECOM
    )
    matches = [c for c in codes if name.startswith(room_base_name(c))]
    return max(matches, key=lambda c: len(room_base_name(c))) if matches else None


def _attach_or_register(connector: Connector, chat_id: str, info: dict[str, Any]) -> Community | None:
    name = str(info.get("name") or "")
    pending = Community.objects.select_for_update().filter(
        connector=connector, channel=ChannelKind.WECOM, status=Community.Status.PENDING, external_id=""
    )
    store_code = str((connector.config or {}).get("store_code") or "")
    code = _code_for_name(connector, name)
    if code is not None:
        pending = pending.filter(store_id=code.store_id)
    elif store_code:
        pending = pending.filter(store__code=store_code)
    chosen = pending.filter(name=name).order_by("created_at", "id").first() if name else None
    if chosen is None and code is not None:
        chosen = pending.filter(template_id=code.template_id).order_by("sequence", "id").first()
    if chosen is None:
        chosen = pending.order_by("created_at", "id").first()
    if chosen is not None:
        return _open_pending(chosen, chat_id, name)
    if code is not None:
        return _register(connector, chat_id, name, code.store, code.template)
    store = Store.objects.filter(code=store_code).first() if store_code else None
    if store is None:
        return None
    return _register(connector, chat_id, name, store, None)


def _register(connector: Connector, chat_id: str, name: str, store: Store, template: Any) -> Community:
    hard_cap = CHANNEL_HARD_CAP[ChannelKind.WECOM]
    for _attempt in range(5):
        top = Community.objects.filter(store=store, template=template, channel=ChannelKind.WECOM).aggregate(
            m=Max("sequence")
        )["m"]
        fields: dict[str, Any] = {
            "brand_id": connector.brand_id,
            "store": store,
            "template": template,
            "channel": ChannelKind.WECOM,
            "connector": connector,
            "external_id": chat_id,
            "name": (name or f"WeCom {chat_id[-8:]}")[:80],
            "sequence": (top or 0) + 1,
            "hard_cap": hard_cap,
            "status": Community.Status.OPEN,
        }
        if template is not None:
            fields.update(
                theme=template.theme,
                audience=template.audience,
                recommended_size=min(template.recommended_size, hard_cap),
                rules_text=template.rules_text,
                welcome_template=template.welcome_template,
            )
        try:
            with transaction.atomic():
                return Community.objects.create(**fields)
        except IntegrityError:
            existing = Community.objects.filter(connector=connector, external_id=chat_id).first()
            if existing is not None:
                return existing
    raise ChannelError(f"could not register WeCom group {chat_id}")


def _member_for(brand_id: int, userid: str, unionid: str) -> Member | None:
    ident = (
        ChannelIdentity.objects.select_related("member")
        .filter(channel=ChannelIdentity.Channel.WECOM, external_id=userid)
        .first()
    )
    if ident is not None:
        member = ident.member
        return member if member.erased_at is None and member.brand_id == brand_id else None
    if not unionid:
        return None
    ident = (
        ChannelIdentity.objects.select_related("member")
        .filter(unionid=unionid, member__brand_id=brand_id, member__erased_at__isnull=True)
        .order_by("id")
        .first()
    )
    if ident is None:
        return None
    try:
        with transaction.atomic():
            ChannelIdentity.objects.create(
                member=ident.member,
                channel=ChannelIdentity.Channel.WECOM,
                external_id=userid,
                unionid=unionid,
            )
    except IntegrityError:
        pass
    return ident.member


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


def _join(community: Community, member: Member, entry: dict[str, Any]) -> None:
    live_code_id = live_code_from_state(str(entry.get("state") or ""))
    code = LiveCode.objects.filter(pk=live_code_id).only("id", "staff_id").first() if live_code_id else None
    try:
        with transaction.atomic():
            join_community(
                community,
                member,
                scene=JoinScene.STORE_QR if code is not None else JoinScene.CHANNEL,
                inviter=code.staff if code is not None else None,
                live_code_id=code.pk if code is not None else None,
            )
    except ServiceError as exc:
        # The member is in the WeCom group whatever Siyu thinks; the next sync reconciles counts.
        logger.warning("WeCom member %s not seated in group %s: %s", member.pk, community.pk, exc)


def _seat(community: Community, info: dict[str, Any], userids: list[str] | None) -> None:
    """Seat the external members of ``info`` (only those in ``userids`` when given)."""
    connector = community.connector
    assert connector is not None
    for entry in info.get("member_list") or []:
        if int(entry.get("type") or 0) != EXTERNAL:
            continue
        userid = str(entry.get("userid") or "")
        if not userid or (userids is not None and userid not in userids):
            continue
        member = _member_for(community.brand_id, userid, str(entry.get("unionid") or ""))
        if member is None:
            _remember_contact(connector, entry, community.external_id, present=True)
        else:
            _join(community, member, entry)


def _unseat(community: Community, info: dict[str, Any], userids: list[str] | None, *, removed: bool) -> None:
    """Members named in ``userids`` left; without a list, every member with a WeCom identity who is no
    longer in ``member_list`` left (members without one cannot be judged absent, so they stay)."""
    connector = community.connector
    assert connector is not None
    present = {str(e.get("userid")) for e in info.get("member_list") or []}
    if userids is None:
        active = CommunityMembership.objects.filter(
            community=community, status=CommunityMembership.Status.ACTIVE, member__isnull=False
        ).values("member_id")
        userids = list(
            ChannelIdentity.objects.filter(channel=ChannelIdentity.Channel.WECOM, member_id__in=active)
            .exclude(external_id__in=present)
            .values_list("external_id", flat=True)
        )
    for userid in userids:
        if userid in present:
            continue  # left and came back before we looked
        ident = (
            ChannelIdentity.objects.select_related("member")
            .filter(channel=ChannelIdentity.Channel.WECOM, external_id=userid)
            .first()
        )
        if ident is not None:
            leave_community(community, ident.member, removed=removed, reason="wecom")
        elif WeComContact.objects.filter(connector=connector, external_userid=userid).exists():
            _remember_contact(connector, {"userid": userid}, community.external_id, present=False)


def _dismiss(connector: Connector, chat_id: str) -> None:
    with transaction.atomic():
        community = (
            Community.objects.select_for_update().filter(connector=connector, external_id=chat_id).first()
        )
        if community is None:
            return
        for membership in CommunityMembership.objects.filter(
            community=community, status=CommunityMembership.Status.ACTIVE, member__isnull=False
        ).select_related("member"):
            assert membership.member is not None
            leave_community(community, membership.member, reason="group dismissed on WeCom")
        community.status = Community.Status.ARCHIVED
        community.save(update_fields=["status"])
        for contact in WeComContact.objects.select_for_update().filter(connector=connector):
            if chat_id in contact.chat_ids:
                contact.chat_ids = [c for c in contact.chat_ids if c != chat_id]
                contact.save(update_fields=["chat_ids", "updated_at"])
        request_sync_for_community(community)


def link_wecom_contacts(member: Member) -> int:
    """Link WeCom contacts that share a unionid with ``member`` and seat the member in the WeCom groups the
    contact is in. Call after a member signs in with WeChat (unionid known). Returns groups joined."""
    unionids = set(
        ChannelIdentity.objects.filter(member=member).exclude(unionid="").values_list("unionid", flat=True)
    )
    if not unionids or member.erased_at is not None:
        return 0
    joined = 0
    with transaction.atomic():
        for contact in WeComContact.objects.select_for_update().filter(
            unionid__in=unionids, member__isnull=True, connector__brand_id=member.brand_id
        ):
            try:
                with transaction.atomic():
                    ChannelIdentity.objects.create(
                        member=member,
                        channel=ChannelIdentity.Channel.WECOM,
                        external_id=contact.external_userid,
                        unionid=contact.unionid,
                    )
            except IntegrityError:
                pass
            contact.member = member
            contact.save(update_fields=["member", "updated_at"])
            for community in Community.objects.filter(
                connector=contact.connector, external_id__in=contact.chat_ids, status=Community.Status.OPEN
            ):
                _join(community, member, {"userid": contact.external_userid})
                joined += 1
    return joined
