from django.apps import AppConfig


class IncentivesConfig(AppConfig):
    """Staff incentives (issue 12 §5): attribution of members and sales to staff, reward rules with tiers,
    monthly statements approved by HQ (frozen once approved), leaderboards.

    Sits directly below the transport layers, above campaigns (``pyproject.toml``). It hears about joins
    through ``siyu.communities.hooks`` and about orders through ``siyu.orders.hooks``; neither knows it.
    """

    name = "siyu.incentives"
    label = "incentives"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from siyu.incentives import listeners

        listeners.register()
