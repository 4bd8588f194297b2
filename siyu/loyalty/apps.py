from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    """Points, check-in, coupons, the points mall and tiers (issue 11).

    Sits above orders in the layers (``pyproject.toml``): it plugs into orders through lifecycle hooks and a
    checkout price adjuster, and orders knows nothing of it. Campaigns sits above loyalty, so a campaign may
    issue coupons or award points for taking part.
    """

    name = "siyu.loyalty"
    label = "loyalty"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Coupons plug into checkout (a price adjuster) and the order lifecycle (siyu.orders.hooks).
        from siyu.loyalty.services import coupons_checkout

        coupons_checkout.register()
