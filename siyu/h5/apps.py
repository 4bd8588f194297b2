from django.apps import AppConfig


class H5Config(AppConfig):
    name = "siyu.h5"
    label = "h5"
    default_auto_field = "django.db.models.BigAutoField"
