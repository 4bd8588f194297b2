"""Console: group buys."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
