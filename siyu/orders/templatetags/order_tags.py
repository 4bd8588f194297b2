"""Template filters for orders: ``{{ order|pickup_window }}`` / ``{{ order|pickup_window:"short" }}``."""

from __future__ import annotations

from django import template

from siyu.orders.models import Order
from siyu.orders.windows import format_window

register = template.Library()


@register.filter
def pickup_window(order: Order, style: str = "") -> str:
    """The order's pickup window in local time, the end date shown when it differs (``orders.windows``)."""
    return format_window(order.pickup_window_start, order.pickup_window_end, short=style == "short")
