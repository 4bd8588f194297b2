"""Console: flash sale setup and live view."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
