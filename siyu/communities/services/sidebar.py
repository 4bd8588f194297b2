"""What a staff member can put into one customer group right now, from the chat-toolbar sidebar (ADR 0012).

On WeCom no API posts silently into a customer group; posts that cannot wait for the owner's mass message
wait for staff (``GroupDelivery`` ``waiting_staff``). The sidebar page (``siyu.console.views_sidebar``) lists
them as ready items, each sent with one tap (``ww.sendChatMessage`` inside WeCom, copy and paste anywhere
else) and then marked done here:

- the next daily-programme item (only the next one; nothing when there is none),
- the latest 接龙 relay lines, all batched into ONE message (sending it marks every line done),
- one welcome for the members who joined in the last 24 hours and were not yet welcomed on the staff path
  (it also covers the group's waiting robot welcomes),
- product cards and campaign cards (news: link, title, desc, imgUrl),
- anything else waiting for staff (announcements, scheduled and staff posts, notices).

Store scoping as everywhere: a group of another store is NotFound.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from siyu.channels.models import ChannelKind, Connector
from siyu.common.errors import NotFound, ValidationFailed
from siyu.communities.models import Community, CommunityMembership, GroupDelivery
from siyu.communities.services import dispatch as dispatching
from siyu.communities.services.messages import display_name
from siyu.communities.services.queries import get_community, scoped_communities
from siyu.communities.services.robot import default_welcome_template, render_welcome, welcome_text
from siyu.org.models import Staff

WELCOME_WINDOW = timedelta(hours=24)
WELCOME_NAMES_MAX = 20
STAFF_WELCOME_KEY = "staff-welcome:"
Kind = GroupDelivery.Kind
ORDER = [Kind.PROGRAMME, Kind.RELAY, Kind.WELCOME, Kind.CARD, Kind.CAMPAIGN]


@dataclass
class SidebarItem:
    """One thing to send into the group with one tap.

    ``msgtype`` is what ``ww.sendChatMessage`` takes (``text`` or ``news``); ``image`` items (a picture
    without a WeCom media id) can only be sent by hand and marked done. ``delivery_ids`` are the waiting
    deliveries the tap completes; ``membership_ids`` the new members a welcome greets.
    """

    key: str
    kind: str
    title: str
    msgtype: str
    text: str = ""
    news: dict[str, str] = field(default_factory=dict)
    image_src: str = ""
    delivery_ids: list[int] = field(default_factory=list)
    membership_ids: list[int] = field(default_factory=list)
    created_at: datetime | None = None

    @property
    def sendable(self) -> bool:
        return self.msgtype in ("text", "news")

    def chat_message(self) -> dict[str, Any]:
        """The argument of ``ww.sendChatMessage``."""
        if self.msgtype == "news":
            return {"msgtype": "news", "enterChat": False, "news": dict(self.news)}
        return {"msgtype": "text", "enterChat": False, "text": {"content": self.text}}

    def copy_text(self) -> str:
        """What "copy" puts on the clipboard outside WeCom: the text, or a card's title, text and link."""
        if self.msgtype == "news":
            parts = [self.news.get("title", ""), self.news.get("desc", ""), self.news.get("link", "")]
            return "\n".join(p for p in parts if p)
        return self.text


@dataclass
class SidebarGroup:
    community: Community
    waiting: int


# --- which groups -------------------------------------------------------------------------------------


def _sidebar_groups(staff: Staff) -> Any:
    return (
        scoped_communities(staff)
        .filter(channel=ChannelKind.WECOM, status=Community.Status.OPEN, connector__isnull=False)
        .exclude(external_id="")
    )


def sidebar_groups(staff: Staff) -> list[SidebarGroup]:
    """The WeCom groups of ``staff``'s stores (all for HQ) with how many posts wait for staff in each, the
    busiest first — what a staff member picks from outside WeCom."""
    now = timezone.now()
    waiting = Q(deliveries__status=GroupDelivery.Status.WAITING_STAFF) & (
        Q(deliveries__expires_at__isnull=True) | Q(deliveries__expires_at__gt=now)
    )
    rows = _sidebar_groups(staff).annotate(waiting=Count("deliveries", filter=waiting))
    groups = [SidebarGroup(community=c, waiting=c.waiting) for c in rows]
    groups.sort(key=lambda g: (-g.waiting, g.community.store.code, g.community.name))
    return groups


def waiting_count(community: Community) -> int:
    """How many posts wait for staff in ``community`` (expired ones left out)."""
    return len(dispatching.waiting_for_staff(community))


def group_for_chat(staff: Staff, connector: Connector, chat_id: str) -> Community:
    """The Siyu group behind the WeCom chat the sidebar was opened in (``getCurExternalChat``'s chatId).

    Raises NotFound ("not your group") when no group of ``staff``'s stores has that chat id on this
    connector — another store's group looks exactly like an unknown one.
    """
    chat_id = (chat_id or "").strip()
    community = None
    if chat_id and len(chat_id) <= 128:
        community = _sidebar_groups(staff).filter(connector=connector, external_id=chat_id).first()
    if community is None:
        raise NotFound(
            _("This group is not one of your store's groups in Siyu, so there is nothing to send here."),
            field="chat_id",
        )
    return community


# --- what is ready --------------------------------------------------------------------------------------


def _content_item(delivery: GroupDelivery, title: str) -> SidebarItem:
    content = delivery.content or {}
    item = SidebarItem(
        key=f"d{delivery.pk}",
        kind=delivery.kind,
        title=title,
        msgtype="text",
        delivery_ids=[delivery.pk],
        created_at=delivery.created_at,
    )
    card = content.get("card")
    if isinstance(card, dict) and card.get("url"):
        item.msgtype = "news"
        item.news = {
            "link": str(card.get("url") or ""),
            "title": str(card.get("title") or ""),
            "desc": str(card.get("description") or ""),
            "imgUrl": str(card.get("image_url") or ""),
        }
    elif content.get("text") or content.get("markdown"):
        item.text = str(content.get("text") or content.get("markdown") or "")
    elif content.get("image_b64"):
        item.msgtype = "image"
        mime = str(content.get("mime") or "image/jpeg")
        if mime in ("image/jpeg", "image/png", "image/webp", "image/gif"):
            # Only base64 that decodes is shown (the page embeds it as a data: URI).
            try:
                base64.b64decode(str(content["image_b64"]), validate=True)
                item.image_src = f"data:{mime};base64,{content['image_b64']}"
            except ValueError:
                item.image_src = ""
    return item


def _relay_item(deliveries: list[GroupDelivery]) -> SidebarItem:
    """All waiting relay messages as one: their lines in order, a repeated heading ("【秒杀接龙】…") once."""
    lines: list[str] = []
    headings: set[str] = set()
    for d in deliveries:
        text = str((d.content or {}).get("text") or (d.content or {}).get("markdown") or "")
        parts = text.splitlines()
        if not parts:
            continue
        if parts[0] in headings:
            parts = parts[1:]
        else:
            headings.add(parts[0])
        lines.extend(parts)
    title = _("Relay (接龙): %(n)s message(s) in one") % {"n": len(deliveries)}
    return SidebarItem(
        key="relay",
        kind=Kind.RELAY,
        title=title,
        msgtype="text",
        text="\n".join(lines),
        delivery_ids=[d.pk for d in deliveries],
        created_at=deliveries[-1].created_at,
    )


def _unwelcomed(community: Community, now: datetime) -> list[CommunityMembership]:
    recent = list(
        CommunityMembership.objects.filter(
            community=community,
            status=CommunityMembership.Status.ACTIVE,
            member__isnull=False,
            joined_at__gte=now - WELCOME_WINDOW,
        )
        .select_related("member")
        .order_by("joined_at", "id")
    )
    keys = {f"{STAFF_WELCOME_KEY}{m.pk}" for m in recent}
    done = set(
        GroupDelivery.objects.filter(community=community, idempotency_key__in=keys).values_list(
            "idempotency_key", flat=True
        )
    )
    return [m for m in recent if f"{STAFF_WELCOME_KEY}{m.pk}" not in done]


def _welcome_text(community: Community, joiners: list[CommunityMembership]) -> str:
    if len(joiners) == 1:
        return welcome_text(joiners[0])
    names = [display_name(m.member) for m in joiners[:WELCOME_NAMES_MAX]]
    name = "、".join(names)
    if len(joiners) > WELCOME_NAMES_MAX:
        name = _("%(names)s and %(n)s more") % {"names": name, "n": len(joiners) - WELCOME_NAMES_MAX}
    template_obj = community.template
    rules = (community.rules_text or (template_obj.rules_text if template_obj else "")).strip()
    template = (community.welcome_template or (template_obj.welcome_template if template_obj else "")).strip()
    if not template:
        template = default_welcome_template(with_rules=bool(rules))
    return render_welcome(template, name=name, store=community.store.name, group=community.name, rules=rules)


def _welcome_item(
    community: Community, joiners: list[CommunityMembership], waiting: list[GroupDelivery]
) -> SidebarItem | None:
    if joiners:
        text = _welcome_text(community, joiners)
        title = _("Welcome %(n)s new member(s)") % {"n": len(joiners)}
    elif waiting:
        text = str((waiting[-1].content or {}).get("text") or "")
        title = _("Welcome new members")
    else:
        return None
    return SidebarItem(
        key="welcome",
        kind=Kind.WELCOME,
        title=title,
        msgtype="text",
        text=text,
        delivery_ids=[d.pk for d in waiting],
        membership_ids=[m.pk for m in joiners],
        created_at=waiting[-1].created_at if waiting else joiners[-1].joined_at,
    )


def items_for(community: Community, *, now: datetime | None = None) -> list[SidebarItem]:
    """The ready items of ``community`` in the order a staff member should send them (no scope check:
    callers pass a group they already resolved for the staff member)."""
    now = now or timezone.now()
    waiting = dispatching.waiting_for_staff(community)
    by_kind: dict[str, list[GroupDelivery]] = {}
    for d in waiting:
        by_kind.setdefault(d.kind, []).append(d)
    items: list[SidebarItem] = []
    programme = by_kind.pop(Kind.PROGRAMME, [])
    if programme:
        items.append(_content_item(programme[0], _("Next in today's programme")))
    relay = by_kind.pop(Kind.RELAY, [])
    if relay:
        items.append(_relay_item(relay))
    welcome = _welcome_item(community, _unwelcomed(community, now), by_kind.pop(Kind.WELCOME, []))
    if welcome is not None:
        items.append(welcome)
    titles = {Kind.CARD: pgettext("sidebar", "Product card"), Kind.CAMPAIGN: pgettext("sidebar", "Campaign")}
    for kind in (Kind.CARD, Kind.CAMPAIGN):
        items.extend(_content_item(d, titles[kind]) for d in by_kind.pop(kind, []))
    rest = sorted((d for rows in by_kind.values() for d in rows), key=lambda d: d.pk)
    items.extend(_content_item(d, str(d.get_kind_display())) for d in rest)
    return items


def ready_items(staff: Staff, community_id: Any) -> tuple[Community, list[SidebarItem]]:
    """``community_id``'s ready items for ``staff`` (NotFound for a group outside their stores, or one that
    is not an open WeCom group)."""
    community = get_community(staff, community_id)
    if not _sidebar_groups(staff).filter(pk=community.pk).exists():
        raise NotFound(_("No such group."), field="community")
    return community, items_for(community)


# --- done -------------------------------------------------------------------------------------------------


def mark_done(
    staff: Staff, community_id: Any, *, delivery_ids: list[int], membership_ids: list[int] | None = None
) -> list[GroupDelivery]:
    """Record that ``staff`` sent one sidebar item into its group (after ``sendChatMessage`` succeeded, or
    after copying it outside WeCom).

    Guarantees: the group must be one of ``staff``'s stores' (NotFound otherwise, nothing changed); every
    delivery must belong to that group (NotFound otherwise); each is confirmed by one conditional UPDATE
    (``dispatch.mark_sent_by_staff``: two taps or two staff members record it once, the first sender kept);
    welcomed members get a confirmed staff-path welcome delivery each (idempotent per membership), so they
    are not offered again. All in one transaction. Returns the deliveries as they now are.
    """
    community = get_community(staff, community_id)
    ids = sorted({int(i) for i in delivery_ids})
    member_ids = sorted({int(i) for i in membership_ids or []})
    if not ids and not member_ids:
        raise ValidationFailed(_("Nothing to mark as sent."), field="delivery")
    with transaction.atomic():
        found = set(
            GroupDelivery.objects.filter(community=community, pk__in=ids).values_list("pk", flat=True)
        )
        if found != set(ids):
            raise NotFound(_("No such item in this group."), field="delivery")
        if member_ids:
            joiners = list(
                CommunityMembership.objects.filter(community=community, pk__in=member_ids)
                .select_related("member")
                .order_by("joined_at", "id")
            )
            if len(joiners) != len(member_ids):
                raise NotFound(_("No such member in this group."), field="membership")
            text = _welcome_text(community, joiners)
            for m in joiners:
                d = dispatching.dispatch(
                    community,
                    {"text": text},
                    kind=Kind.WELCOME,
                    key=f"{STAFF_WELCOME_KEY}{m.pk}",
                    can_wait=False,
                )
                if d is not None:
                    ids.append(d.pk)
        return [dispatching.mark_sent_by_staff(staff, pk) for pk in ids]
