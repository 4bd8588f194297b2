from django.apps import AppConfig


class ToolingConfig(AppConfig):
    """Demo seeding and benchmarks: the ``demo``, ``seed_demo`` and ``bench`` commands. No models."""

    name = "siyu.tooling"
    label = "tooling"
    default_auto_field = "django.db.models.BigAutoField"
