"""Head office sets up events: the event itself, its sessions per store (many stores at once) and publishing.

Guarantees: only staff with ``events.manage`` (head office) change anything (PermissionDenied otherwise);
every refusal (ValidationFailed, NotFound, Conflict) changes nothing; each change is audited in its own
transaction. Once published, an event's times, price, ticket item and limit are fixed (its tickets were sold
on them); its texts and door coupons may still change. A paid event's ticket item gets a listing at every
session store (stock 0, not published, so it never shows in the mall): orders needs one for the ticket line.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.catalog.models import Sku, StoreListing
from siyu.catalog.services import bulk as catalog_bulk
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.validators import clean_fen, clean_int, clean_text, parse_id, parse_ids
from siyu.events.models import Event, EventSession, EventStatus
from siyu.events.services.rules import (
    MAX_CAPACITY,
    MAX_COUPONS,
    MAX_MEMBER_LIMIT,
    MAX_PRICE_FEN,
    MAX_STORES_PER_CALL,
    clean_when,
    require_manager,
)
from siyu.loyalty.models import CouponTemplate
from siyu.org.models import Staff, Store
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id
from siyu.org.services.stores import open_stores

FIELDS = {
    "title",
    "description",
    "art_url",
    "starts_at",
    "ends_at",
    "ticket_price_fen",
    "ticket_sku",
    "gift_pack",
    "gift_value_fen",
    "coupon_templates",
    "member_limit",
}
# Fixed once tickets may have been sold on them.
LOCKED = ("starts_at", "ends_at", "ticket_price_fen", "ticket_sku", "member_limit")
_SAFE_URL = re.compile(r"^(https://|/(?!/))\S{1,499}$")


def _clean(data: dict[str, Any], brand_id: int) -> tuple[dict[str, Any], list[CouponTemplate]]:
    if not isinstance(data, dict):
        raise ValidationFailed(_("Expected an object."), field="event")
    unknown = set(data) - FIELDS
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    art_url = clean_text(data.get("art_url"), "art_url", 500)
    if art_url and not _SAFE_URL.match(art_url):
        raise ValidationFailed(_("Give an https:// address."), field="art_url")
    starts_at = clean_when(data.get("starts_at"), "starts_at")
    ends_at = clean_when(data.get("ends_at"), "ends_at")
    if ends_at <= starts_at:
        raise ValidationFailed(_("The end must be after the start."), field="ends_at")
    price = clean_fen(data.get("ticket_price_fen", 0), "ticket_price_fen", maximum=MAX_PRICE_FEN)
    sku = None
    if price:
        raw_sku = data.get("ticket_sku")
        if raw_sku in (None, ""):
            raise ValidationFailed(_("A paid ticket needs the item it is sold as."), field="ticket_sku")
        sku = Sku.objects.filter(
            pk=parse_id(raw_sku, "ticket_sku", _("No such item.")), product__brand_id=brand_id
        ).first()
        if sku is None:
            raise NotFound(_("No such item."), field="ticket_sku")
    coupon_ids = parse_ids(data.get("coupon_templates") or [], "coupon_templates", limit=MAX_COUPONS)
    templates = list(CouponTemplate.objects.filter(brand_id=brand_id, pk__in=coupon_ids).order_by("pk"))
    if len(templates) != len(coupon_ids):
        raise NotFound(_("No such coupon."), field="coupon_templates")
    clean = {
        "title": clean_text(data.get("title"), "title", 100, required=True),
        "description": clean_text(data.get("description"), "description", 2000),
        "art_url": art_url,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "ticket_price_fen": price,
        "ticket_sku": sku,
        "gift_pack": clean_text(data.get("gift_pack"), "gift_pack", 200),
        "gift_value_fen": clean_fen(
            data.get("gift_value_fen", 0), "gift_value_fen", maximum=10 * MAX_PRICE_FEN
        ),
        "member_limit": clean_int(
            data.get("member_limit", 1), "member_limit", 1, MAX_MEMBER_LIMIT, from_text=True
        ),
    }
    return clean, templates


def create_event(staff: Staff, data: dict[str, Any], *, ip: str | None = None) -> Event:
    """Create a draft event (head office). ``data``: title, description, art_url, starts_at, ends_at,
    ticket_price_fen (0 = free), ticket_sku (required when paid), gift_pack, gift_value_fen,
    coupon_templates (ids, given at the door), member_limit. Audited ``event.create``."""
    require_manager(staff)
    brand_id = current_brand_id(staff)
    clean, templates = _clean(data, brand_id)
    with transaction.atomic():
        event = Event.objects.create(brand_id=brand_id, created_by=staff, **clean)
        event.coupon_templates.set(templates)
        record_audit(
            staff,
            "event.create",
            target_type="event",
            target_id=event.pk,
            detail={"title": event.title},
            ip=ip,
        )
    return event


def get_managed_event(staff: Staff, event_id: Any) -> Event:
    """An event of the brand for head office (NotFound for a junk or unknown id)."""
    require_manager(staff)
    pk = parse_id(event_id, "event", _("No such event."))
    event = Event.objects.filter(pk=pk, brand_id=current_brand_id(staff)).first()
    if event is None:
        raise NotFound(_("No such event."), field="event")
    return event


def update_event(staff: Staff, event_id: Any, data: dict[str, Any], *, ip: str | None = None) -> Event:
    """Change an event (head office) with the rules of ``create_event``. A published event keeps its times,
    price, ticket item and limit (Conflict ``event_locked`` when they would change); a cancelled one refuses
    every change (Conflict ``event_cancelled``). Audited ``event.update`` with the fields changed."""
    event = get_managed_event(staff, event_id)
    if event.status == EventStatus.CANCELLED:
        raise Conflict(_("This event was cancelled."), field="event", code="event_cancelled")
    clean, templates = _clean(data, event.brand_id)
    for name in ("starts_at", "ends_at"):
        # A form gives minutes: the same minute keeps the stored time (seconds included).
        if clean[name] == getattr(event, name).replace(second=0, microsecond=0):
            clean[name] = getattr(event, name)
    if event.status == EventStatus.PUBLISHED:
        for name in LOCKED:
            if getattr(event, name) != clean[name]:
                raise Conflict(
                    _("A published event keeps its times, price and limit."), field=name, code="event_locked"
                )
    changed = sorted(name for name, value in clean.items() if getattr(event, name) != value)
    with transaction.atomic():
        Event.objects.filter(pk=event.pk).update(**clean, updated_at=timezone.now())
        event.coupon_templates.set(templates)
        record_audit(
            staff, "event.update", target_type="event", target_id=event.pk, detail={"changed": changed}, ip=ip
        )
    event.refresh_from_db()
    return event


def _ensure_ticket_listings(event: Event, store_ids: list[int]) -> None:
    """A listing of the ticket item at each store (stock 0, unpublished): the ticket order's line."""
    if event.ticket_sku_id is None:
        return
    have = set(
        StoreListing.objects.filter(sku_id=event.ticket_sku_id, store_id__in=store_ids).values_list(
            "store_id", flat=True
        )
    )
    missing = [s for s in store_ids if s not in have]
    if not missing:
        return
    stores = {s.pk: s for s in Store.objects.filter(pk__in=missing)}
    try:
        with transaction.atomic():
            catalog_bulk.open_listings(
                [StoreListing(store=stores[s], sku_id=event.ticket_sku_id, stock=0) for s in missing]
            )
    except IntegrityError:
        pass  # a concurrent call listed it meanwhile: what we need exists


def add_sessions(
    staff: Staff,
    event_id: Any,
    *,
    store_ids: Any,
    starts_at: Any,
    ends_at: Any,
    capacity: Any,
    ip: str | None = None,
) -> list[EventSession]:
    """Add one session per store in ``store_ids`` (open stores of the brand; up to 2,000 at once) from
    ``starts_at`` to ``ends_at`` (within the event's window) with ``capacity`` seats each. All or nothing:
    a store that already has a session starting then is Conflict ``session_exists``. Audited
    ``event.sessions_add``."""
    event = get_managed_event(staff, event_id)
    if event.status == EventStatus.CANCELLED:
        raise Conflict(_("This event was cancelled."), field="event", code="event_cancelled")
    ids = parse_ids(store_ids, "stores", limit=MAX_STORES_PER_CALL, message=_("No such store."))
    if not ids:
        raise ValidationFailed(_("Choose at least one store."), field="stores")
    if open_stores(event.brand_id).filter(pk__in=ids).count() != len(ids):
        raise NotFound(_("No such store."), field="stores")
    start = clean_when(starts_at, "starts_at")
    end = clean_when(ends_at, "ends_at")
    if end <= start:
        raise ValidationFailed(_("The end must be after the start."), field="ends_at")
    if start < event.starts_at or end > event.ends_at:
        raise ValidationFailed(_("A session lies within the event's dates."), field="starts_at")
    seats = clean_int(capacity, "capacity", 1, MAX_CAPACITY, from_text=True)
    try:
        with transaction.atomic():
            made = EventSession.objects.bulk_create(
                [
                    EventSession(event=event, store_id=s, starts_at=start, ends_at=end, capacity=seats)
                    for s in sorted(ids)
                ]
            )
            _ensure_ticket_listings(event, sorted(ids))
            record_audit(
                staff,
                "event.sessions_add",
                target_type="event",
                target_id=event.pk,
                detail={"stores": len(ids), "capacity": seats, "starts_at": start.isoformat()},
                ip=ip,
            )
    except IntegrityError:
        raise Conflict(
            _("A store already has a session starting then."), field="stores", code="session_exists"
        ) from None
    return made


def set_capacity(staff: Staff, session_id: Any, capacity: Any, *, ip: str | None = None) -> EventSession:
    """Change a session's seats (head office); never below the seats already taken (one conditional UPDATE:
    Conflict ``below_taken``). Audited ``event.capacity``."""
    require_manager(staff)
    pk = parse_id(session_id, "session", _("No such session."))
    session = EventSession.objects.filter(pk=pk, event__brand_id=current_brand_id(staff)).first()
    if session is None:
        raise NotFound(_("No such session."), field="session")
    seats = clean_int(capacity, "capacity", 1, MAX_CAPACITY, from_text=True)
    with transaction.atomic():
        if not EventSession.objects.filter(pk=pk, taken__lte=seats).update(capacity=seats):
            raise Conflict(_("More seats are already taken than that."), field="capacity", code="below_taken")
        record_audit(
            staff,
            "event.capacity",
            target_type="event_session",
            target_id=pk,
            store_id=session.store_id,
            detail={"from": session.capacity, "to": seats},
            ip=ip,
        )
    session.refresh_from_db()
    return session


def publish_event(staff: Staff, event_id: Any, *, ip: str | None = None) -> Event:
    """Draft → published (head office), once (Conflict ``not_draft``); it needs a session that has not
    ended (Conflict ``no_sessions``). Members then see it and the robot posts its card into the groups of
    the session stores (``siyu.events.services.posts``). Audited ``event.publish``."""
    event = get_managed_event(staff, event_id)
    now = timezone.now()
    if not event.sessions.filter(ends_at__gt=now).exists():
        raise Conflict(_("Add a session first."), field="event", code="no_sessions")
    with transaction.atomic():
        if not Event.objects.filter(pk=event.pk, status=EventStatus.DRAFT).update(
            status=EventStatus.PUBLISHED, published_at=now, updated_at=now
        ):
            raise Conflict(_("Only a draft can be published."), field="event", code="not_draft")
        record_audit(staff, "event.publish", target_type="event", target_id=event.pk, ip=ip)
    event.refresh_from_db()
    return event


def sold_total(event: Event) -> tuple[int, int]:
    """(seats taken, seats) over the event's sessions."""
    rows = EventSession.objects.filter(event=event).values_list("taken", "capacity")
    return sum(r[0] for r in rows), sum(r[1] for r in rows)


def running_window(event: Event, now: datetime) -> bool:
    return event.status == EventStatus.PUBLISHED and event.ends_at > now
