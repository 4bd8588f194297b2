"""Activity signals: what Siyu can actually see of life in a group, per channel.

A channel either lets Siyu read the group's messages (the built-in web chat, Telegram: the connector declares
``Capability.RECEIVE_MESSAGES``) or it does not (WeCom customer groups: Siyu never sees message content). What
counts as activity is a declared list of **signals** — each one a set of event types in the event log
(``siyu.analytics.models.Event``) — and a group uses the signals its channel can produce:

| signal | event types | a member's activity (hygiene) | a group's chart | channels |
|---|---|---|---|---|
| messages | ``community.message`` | in this group | in this group | reading messages |
| orders | ``order.*`` | at the group's store | ``order.created`` credited to it | all |
| joins | ``community.joined`` | joined this group | joins of this group | without messages |
| check-ins | ``loyalty.checked_in`` | at the group's store | credited to this group | all, once written |
| link opens | ``community.link_open`` | opened a link posted in it | opens in this group | without messages |

Joins and link opens *stand in* for messages where messages cannot be read; where they can, messages say
more and the stand-ins are not counted. Leaves are not activity (a leave says a member is gone, not that
anyone is active); they stay on the member's timeline. Loyalty's check-ins are declared already and count as
soon as loyalty writes ``loyalty.checked_in`` (``until_seen``: no report names a signal nothing produces yet);
other capabilities add theirs with ``register_signal`` from their ``AppConfig.ready()``. Every report, chart
and label reads this one list.

Guarantees: nothing here writes except ``record_link_open``; every reader says which signals it counted
(``signal_labels``), so "no activity" is never shown where the truth is "not seen".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import pgettext, pgettext_lazy

from siyu.analytics.models import DailyEventCount, Event
from siyu.analytics.services.events import record_event
from siyu.channels.connectors.base import Capability
from siyu.channels.models import ChannelKind, Connector
from siyu.channels.services import outbox
from siyu.communities.models import Community, CommunityMembership
from siyu.members.models import Member

LINK_OPEN = "community.link_open"
MAX_PATH = 200


@dataclass(frozen=True)
class ActivitySignal:
    """One kind of thing Siyu sees a member do.

    ``types``: event types; an entry ending in ``.`` is a prefix (``order.`` = every order event).
    ``chart_types``: the events a group's activity chart counts for this signal (default: ``types``), always
    those carrying the group's id. ``member_scope``: a member's event counts for the group's hygiene when it
    is in this group (``group``) or at the group's store (``store``). ``where``: ``messages`` = only on
    channels that read messages, ``no_messages`` = only on channels that do not, ``all`` = everywhere.
    """

    key: str
    label: Promise | str
    types: tuple[str, ...]
    member_scope: Literal["group", "store"] = "group"
    where: Literal["all", "messages", "no_messages"] = "all"
    chart_types: tuple[str, ...] = ()
    # Declared ahead of the capability that writes it: used (and named) only once the event log has any.
    until_seen: bool = False

    def applies(self, reads_messages: bool) -> bool:
        if self.where == "messages":
            return reads_messages
        if self.where == "no_messages":
            return not reads_messages
        return True

    def counted_in_charts(self) -> tuple[str, ...]:
        return self.chart_types or self.types


MESSAGES = ActivitySignal(
    "messages", pgettext_lazy("activity signal", "messages"), ("community.message",), where="messages"
)
ORDERS = ActivitySignal(
    "orders",
    pgettext_lazy("activity signal", "orders"),
    ("order.",),
    member_scope="store",
    chart_types=("order.created",),
)
JOINS = ActivitySignal(
    "joins", pgettext_lazy("activity signal", "joins"), ("community.joined",), where="no_messages"
)
LINK_OPENS = ActivitySignal(
    "link_opens", pgettext_lazy("activity signal", "link opens"), (LINK_OPEN,), where="no_messages"
)
# Loyalty's daily check-in, at the group's store (or credited to the group in charts) — counted as soon as
# loyalty writes ``loyalty.checked_in``; until then no report claims to have looked at check-ins.
CHECKINS = ActivitySignal(
    "checkins",
    pgettext_lazy("activity signal", "check-ins"),
    ("loyalty.checked_in",),
    member_scope="store",
    until_seen=True,
)

_SIGNALS: list[ActivitySignal] = [MESSAGES, JOINS, ORDERS, CHECKINS, LINK_OPENS]


def register_signal(signal: ActivitySignal) -> None:
    """Add a signal (e.g. loyalty's check-ins) from an ``AppConfig.ready()``; a known key is ignored."""
    if all(s.key != signal.key for s in _SIGNALS):
        _SIGNALS.append(signal)


def unregister_signal(key: str) -> None:
    """Remove a registered signal (tests)."""
    _SIGNALS[:] = [s for s in _SIGNALS if s.key != key]


def all_signals() -> list[ActivitySignal]:
    return list(_SIGNALS)


def reads_messages(community: Community) -> bool:
    """Whether Siyu sees the group's messages: the built-in web chat always; another channel when its
    connector declares ``Capability.RECEIVE_MESSAGES``."""
    if community.channel == ChannelKind.WEB:
        return True
    connector = community.connector or Connector(kind=community.channel)
    return outbox.get_connector(connector).can(Capability.RECEIVE_MESSAGES)


def _written(signal: ActivitySignal) -> bool:
    """Whether the event log holds any event of ``signal`` (read from the daily counts)."""
    return DailyEventCount.objects.filter(_types_q(signal.types)).exists()


def signals_for(community: Community) -> list[ActivitySignal]:
    """The signals that count for this group, in display order (a signal declared ahead of its capability
    only once its events exist)."""
    seen = reads_messages(community)
    return [s for s in _SIGNALS if s.applies(seen) and (not s.until_seen or _written(s))]


def signal_labels(community: Community) -> str:
    """The signals of a group as people read them: "消息、下单" (web), "入群、下单、打开链接" (WeCom)."""
    return pgettext("list separator", ", ").join(str(s.label) for s in signals_for(community))


def _types_q(types: Iterable[str]) -> Q:
    q = Q(pk__in=[])
    for t in types:
        q |= Q(type__startswith=t) if t.endswith(".") else Q(type=t)
    return q


def member_last_signal(community: Community, member_ids: list[int]) -> dict[int, datetime]:
    """The latest time each member gave any of the group's signals (members with none are absent)."""
    if not member_ids:
        return {}
    where = Q(pk__in=[])
    for s in signals_for(community):
        scope = Q(community_id=community.pk) if s.member_scope == "group" else Q(store_id=community.store_id)
        where |= _types_q(s.types) & scope
    rows = (
        Event.objects.filter(where, member_id__in=member_ids)
        .values("member_id")
        .annotate(last=Max("occurred_at"))
        .order_by()
    )
    return {row["member_id"]: row["last"] for row in rows}


def group_series(communities: Iterable[Community], days: int) -> dict[int, list[int]]:
    """Per group, its signals' events carrying the group's id per local day over ``days`` days (oldest
    first, today last), zeros included; one query per distinct set of signals."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    start = timezone.make_aware(datetime.combine(first, time.min))
    by_types: dict[tuple[str, ...], list[int]] = {}
    for c in communities:
        types = tuple(sorted({t for s in signals_for(c) for t in s.counted_in_charts()}))
        by_types.setdefault(types, []).append(c.pk)
    series: dict[int, list[int]] = {}
    for types, ids in by_types.items():
        for pk in ids:
            series[pk] = [0] * days
        rows = (
            Event.objects.filter(_types_q(types), community_id__in=ids, occurred_at__gte=start)
            .annotate(day=TruncDate("occurred_at", tzinfo=timezone.get_current_timezone()))
            .values("community_id", "day")
            .annotate(n=Count("id"))
            .order_by()
        )
        for row in rows:
            day: date = row["day"]
            index = (day - first).days
            if row["community_id"] in series and 0 <= index < days:
                series[row["community_id"]][index] += row["n"]
    return series


# --- link opens ------------------------------------------------------------------------------------------


def record_link_open(member: Member, community_id: Any, path: str) -> bool:
    """A member opened a link Siyu posted in a group (the link carries ``?g=<group id>``): record
    ``community.link_open`` once per member, group, page and local day. Ignored (False) unless the member is
    an active member of that group — a link forwarded elsewhere credits nobody. Never raises on bad input."""
    if isinstance(community_id, str) and community_id.isdigit() and len(community_id) < 19:
        community_id = int(community_id)
    if isinstance(community_id, bool) or not isinstance(community_id, int) or not 0 < community_id < 2**63:
        return False
    group_id = community_id
    membership = CommunityMembership.objects.filter(
        community_id=group_id, member=member, status=CommunityMembership.Status.ACTIVE
    ).select_related("community")
    row = membership.first()
    if row is None:
        return False
    path = (path or "")[:MAX_PATH]
    digest = hashlib.sha256(path.encode()).hexdigest()[:16]
    key = f"siyu:linkopen:{member.pk}:{group_id}:{timezone.localdate().isoformat()}:{digest}"
    if not cache.add(key, 1, timeout=26 * 3600):
        return False
    record_event(
        LINK_OPEN,
        member_id=member.pk,
        store_id=row.community.store_id,
        community_id=group_id,
        payload={"path": path},
    )
    return True


def tag_link(url: str, community: Community) -> str:
    """``url`` with ``g=<group id>`` added when it is a Siyu page (``/h5/…``, relative or under the public
    address) that does not carry a group yet — so opens of cards posted in the group are seen."""
    if not isinstance(url, str) or not url:
        return url
    base = (getattr(settings, "SIYU_PUBLIC_URL", "") or "").rstrip("/")
    if not (url.startswith("/h5/") or (base and url.startswith(f"{base}/h5/"))):
        return url
    head, _sep, fragment = url.partition("#")
    if "?g=" in head or "&g=" in head:
        return url
    head += ("&" if "?" in head else "?") + f"g={community.pk}"
    return head + (f"#{fragment}" if fragment else "")


def group_link_content(content: dict[str, Any], community: Community) -> dict[str, Any]:
    """``content`` with its card's link tagged for ``community`` (``tag_link``) when the group's channel
    cannot read messages — there a link open is one of the few signals; elsewhere unchanged."""
    card = content.get("card")
    if not isinstance(card, dict) or not card.get("url") or reads_messages(community):
        return content
    return {**content, "card": {**card, "url": tag_link(str(card["url"]), community)}}
