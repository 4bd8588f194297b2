"""H5 group buys (拼团)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
