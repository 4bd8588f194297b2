"""What the console shows about posts into groups: each group's deliveries, recent ones across the stores a
staff member serves, and one row per WeCom mass message (owner, groups, how many were confirmed).

Guarantees: store staff see only their stores' groups (a group of another store is NotFound; lists are
filtered by ``store_scope``); HQ sees the whole brand. Every status is told as a sentence, times in the
site's time zone (Asia/Shanghai), never as a raw code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import NotFound
from siyu.communities.models import Community, GroupDelivery
from siyu.org.models import Staff
from siyu.org.services.access import can_access_store, require_staff, store_scope

RECENT_PER_GROUP = 50


def _when(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def owner_names(userids: set[str]) -> dict[str, str]:
    """Staff names for WeCom userids (``Staff.wecom_userid``); an unknown userid stands for itself."""
    known = {
        userid: display or username
        for userid, display, username in Staff.objects.filter(
            wecom_userid__in=[u for u in userids if u]
        ).values_list("wecom_userid", "display_name", "username")
    }
    return {u: known.get(u) or u for u in userids}


def status_sentence(delivery: GroupDelivery, owner_name: str = "") -> str:
    """What became of one post, as a sentence a store manager reads."""
    status, path = delivery.status, delivery.path
    owner = owner_name or delivery.owner_userid
    when = _when(delivery.delivered_at)
    S = GroupDelivery.Status
    if status == S.SENT:
        return _("Posted automatically at %(when)s.") % {"when": when}
    if status == S.PENDING and path == GroupDelivery.Path.OWNER_CONFIRM:
        return _("Queued for %(owner)s's next mass message.") % {"owner": owner}
    if status == S.PENDING:
        return _("Queued to be posted.")
    if status == S.WAITING_OWNER:
        return _("Waiting for the group owner %(owner)s to confirm the mass message in WeCom.") % {
            "owner": owner
        }
    if status == S.WAITING_STAFF:
        return _("Waiting for a staff member to send it from the sidebar.")
    if status == S.CONFIRMED and path == GroupDelivery.Path.STAFF:
        by = str(delivery.done_by) if delivery.done_by else _("a staff member")
        return _("Sent by %(who)s from the sidebar at %(when)s.") % {"who": by, "when": when}
    if status == S.CONFIRMED:
        return _("Sent by the group owner %(owner)s as a mass message at %(when)s.") % {
            "owner": owner,
            "when": when,
        }
    if status == S.FAILED:
        return _("Not delivered.")
    return _("Not delivered: it expired.")


@dataclass(frozen=True)
class DeliveryRow:
    delivery: GroupDelivery
    sentence: str
    created: str
    delivered: str


def _rows(deliveries: list[GroupDelivery]) -> list[DeliveryRow]:
    names = owner_names({d.owner_userid for d in deliveries})
    return [
        DeliveryRow(
            delivery=d,
            sentence=status_sentence(d, names.get(d.owner_userid, "")),
            created=_when(d.created_at),
            delivered=_when(d.delivered_at),
        )
        for d in deliveries
    ]


def group_deliveries(staff: Staff, community_id: int, *, limit: int = RECENT_PER_GROUP) -> list[DeliveryRow]:
    """The group's most recent deliveries, newest first (NotFound for a group of another store)."""
    require_staff(staff)
    community = Community.objects.filter(pk=community_id).only("store_id").first()
    if community is None or not can_access_store(staff, community.store_id):
        raise NotFound(_("No such group."), field="community")
    rows = list(
        GroupDelivery.objects.filter(community_id=community_id)
        .select_related("done_by")
        .order_by("-id")[:limit]
    )
    return _rows(rows)


def _scoped(staff: Staff) -> QuerySet[GroupDelivery]:
    require_staff(staff)
    qs = GroupDelivery.objects.all()
    scope = store_scope(staff)
    if scope is not None:
        qs = qs.filter(community__store_id__in=scope)
    return qs


def recent_deliveries(
    staff: Staff, *, status: str = "", path: str = "", store_id: int | None = None, limit: int = 200
) -> list[DeliveryRow]:
    """Recent deliveries ``staff`` may see, newest first, filtered by status, path and store."""
    qs = _scoped(staff).select_related("community", "community__store", "done_by")
    if status in GroupDelivery.Status.values:
        qs = qs.filter(status=status)
    if path in GroupDelivery.Path.values:
        qs = qs.filter(path=path)
    if store_id:
        qs = qs.filter(community__store_id=store_id)
    return _rows(list(qs.order_by("-id")[:limit]))


@dataclass(frozen=True)
class MassRow:
    """One WeCom mass message: who sends it, to how many groups, and how it is going."""

    msgid: str
    owner: str
    groups: int
    confirmed: int
    waiting: int
    failed: int
    expired: int
    created: str
    last_sent: str


def mass_messages(staff: Staff, *, store_id: int | None = None, limit: int = 50) -> list[MassRow]:
    """The recent mass messages behind the deliveries ``staff`` may see (only their stores' groups count)."""
    qs = _scoped(staff).exclude(mass_msgid="")
    if store_id:
        qs = qs.filter(community__store_id=store_id)
    S = GroupDelivery.Status
    agg = (
        qs.values("mass_msgid", "owner_userid")
        .annotate(
            groups=Count("community", distinct=True),
            confirmed=Count("id", filter=Q(status=S.CONFIRMED)),
            waiting=Count("id", filter=Q(status=S.WAITING_OWNER)),
            failed=Count("id", filter=Q(status=S.FAILED)),
            expired=Count("id", filter=Q(status=S.EXPIRED)),
            created=Min("created_at"),
            last_sent=Max("delivered_at"),
            first=Min("id"),
        )
        .order_by("-first")[:limit]
    )
    rows = list(agg)
    names = owner_names({r["owner_userid"] for r in rows})
    return [
        MassRow(
            msgid=r["mass_msgid"],
            owner=names.get(r["owner_userid"], r["owner_userid"]),
            groups=r["groups"],
            confirmed=r["confirmed"],
            waiting=r["waiting"],
            failed=r["failed"],
            expired=r["expired"],
            created=_when(r["created"]),
            last_sent=_when(r["last_sent"]),
        )
        for r in rows
    ]
