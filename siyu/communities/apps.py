from django.apps import AppConfig


class CommunitiesConfig(AppConfig):
    name = "siyu.communities"
    label = "communities"
    default_auto_field = "django.db.models.BigAutoField"
