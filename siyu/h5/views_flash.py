"""Placeholder: the H5 flash sale page (being written)."""

from django.http import Http404, HttpRequest, HttpResponse


def flash_sale(request: HttpRequest, campaign_id: int) -> HttpResponse:
    raise Http404
