from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "siyu.campaigns"
    label = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Campaigns plug into the orders they place through orders' hooks (siyu.orders.hooks).
        from siyu.campaigns import order_hooks

        order_hooks.register()
