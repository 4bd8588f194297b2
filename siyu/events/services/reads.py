"""Reading events and tickets: members see published events of their brand and their own tickets; staff
see the events with a session at a store they serve (head office: all), and another store's event answers
NotFound (ADR 0002)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import NotFound
from siyu.common.validators import parse_id
from siyu.communities.models import Community, CommunityMembership
from siyu.events.models import Event, EventSession, EventStatus, Ticket
from siyu.members.models import Member
from siyu.org.models import Staff, Store
from siyu.org.services.access import store_scope
from siyu.org.services.brand import current_brand_id

MEMBER_TICKETS_LIMIT = 50


# --- members ---------------------------------------------------------------------------------------------


def member_events(member: Member, *, now: datetime | None = None) -> list[Event]:
    """Published events of the member's brand that have not ended, soonest first."""
    now = now or timezone.now()
    return list(
        Event.objects.filter(
            brand_id=member.brand_id, status=EventStatus.PUBLISHED, ends_at__gt=now
        ).order_by("starts_at", "id")[:20]
    )


def member_event(member: Member, event_id: Any) -> Event:
    pk = parse_id(event_id, "event", _("No such event."))
    event = Event.objects.filter(pk=pk, brand_id=member.brand_id, status=EventStatus.PUBLISHED).first()
    if event is None:
        raise NotFound(_("No such event."), field="event")
    return event


def member_store_ids(member: Member) -> set[int]:
    """The member's stores: the home store and the stores of the groups they are in."""
    ids = set(
        CommunityMembership.objects.filter(
            member=member, status=CommunityMembership.Status.ACTIVE
        ).values_list("community__store_id", flat=True)
    )
    if member.home_store_id:
        ids.add(member.home_store_id)
    return ids


def sessions_for_member(member: Member, event: Event, *, now: datetime | None = None) -> list[EventSession]:
    """The event's sessions at open stores that have not ended: the member's stores first, then by time."""
    now = now or timezone.now()
    mine = member_store_ids(member)
    rows = list(
        event.sessions.filter(ends_at__gt=now, store__status=Store.Status.OPEN)
        .select_related("store")
        .order_by("starts_at", "store__code", "id")
    )
    rows.sort(key=lambda s: s.store_id not in mine)
    return rows


def member_tickets(member: Member) -> list[Ticket]:
    return list(
        Ticket.objects.filter(member=member)
        .select_related("event", "session", "store", "order")
        .order_by("-created_at", "-id")[:MEMBER_TICKETS_LIMIT]
    )


def member_ticket(member: Member, ticket_id: Any) -> Ticket:
    """The member's own ticket; NotFound for anyone else's or a junk id."""
    pk = parse_id(ticket_id, "ticket", _("No such ticket."))
    ticket = (
        Ticket.objects.filter(pk=pk, member=member)
        .select_related("event", "session", "store", "order")
        .first()
    )
    if ticket is None:
        raise NotFound(_("No such ticket."), field="ticket")
    return ticket


# --- staff -----------------------------------------------------------------------------------------------


def scoped_events(staff: Staff) -> QuerySet[Event]:
    """Events the staff member may see: head office all of the brand's; a store role those with a session
    at a store it serves."""
    qs = Event.objects.filter(brand_id=current_brand_id(staff))
    scope = store_scope(staff)
    if scope is not None:
        qs = qs.filter(Q(sessions__store_id__in=scope)).distinct()
    return qs.order_by("-starts_at", "-id")


def get_event(staff: Staff, event_id: Any) -> Event:
    pk = parse_id(event_id, "event", _("No such event."))
    event = scoped_events(staff).filter(pk=pk).first()
    if event is None:
        raise NotFound(_("No such event."), field="event")
    return event


def scoped_sessions(staff: Staff, event: Event) -> QuerySet[EventSession]:
    qs = event.sessions.select_related("store").order_by("starts_at", "store__code", "id")
    scope = store_scope(staff)
    return qs if scope is None else qs.filter(store_id__in=scope)


def event_groups(event: Event) -> QuerySet[Community]:
    """The open groups of the event's session stores (where the robot posts its card and progress)."""
    store_ids = event.sessions.values_list("store_id", flat=True)
    return (
        Community.objects.filter(store_id__in=store_ids, status=Community.Status.OPEN)
        .select_related("store", "connector")
        .order_by("store_id", "id")
    )
