"""What events plug into orders (``siyu.orders.hooks``), registered in ``EventsConfig.ready()``.

- Ticket orders (source ``event_ticket``): the ``paid`` hook makes the ticket valid; ``released`` (cancelled,
  expired, refunded) ends the ticket and frees its seat — both inside the order's transaction.
- The pickup guard refuses to hand a ticket order over at the ordinary pickup counter: it is redeemed at the
  door (``siyu.events.services.checkin``), which checks the ticket in first.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from siyu.events.models import Ticket, TicketStatus
from siyu.events.services.tickets import on_order_paid, on_order_released
from siyu.orders import hooks
from siyu.orders.models import Order, OrderSource


def ticket_pickup_guard(order: Order) -> hooks.PickupRefusal | None:
    """A ticket order is handed over only by checking its ticket in at the door."""
    if Ticket.objects.filter(order_id=order.pk, status=TicketStatus.CHECKED_IN).exists():
        return None
    return hooks.PickupRefusal(
        "event_ticket", _("This is an event ticket: show it at the door of the event.")
    )


def register() -> None:
    hooks.register_source(OrderSource.EVENT_TICKET)
    hooks.register("paid", on_order_paid, source=OrderSource.EVENT_TICKET)
    hooks.register("released", on_order_released, source=OrderSource.EVENT_TICKET)
    hooks.register_pickup_guard(ticket_pickup_guard, source=OrderSource.EVENT_TICKET)
