"""Placeholder: the flash-sale purchase endpoints (being written)."""

from django.http import Http404, HttpRequest, HttpResponse


def buy_view(request: HttpRequest, campaign_id: int) -> HttpResponse:
    raise Http404


def status_view(request: HttpRequest, campaign_id: int) -> HttpResponse:
    raise Http404


def reservation_view(request: HttpRequest, campaign_id: int, key: str) -> HttpResponse:
    raise Http404
