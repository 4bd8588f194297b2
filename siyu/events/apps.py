from django.apps import AppConfig


class EventsConfig(AppConfig):
    """In-store events with tickets (内购会 / 门店活动, issue 12 §3).

    Sits between campaigns and loyalty in the layers (``pyproject.toml``): it sells paid tickets
    through orders (``siyu.orders.hooks``: a ticket becomes valid on its order's ``paid`` hook and gives
    its seat back on ``released``) and issues loyalty coupons at the door; nothing below imports it.
    """

    name = "siyu.events"
    label = "events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from siyu.events import order_hooks

        order_hooks.register()
