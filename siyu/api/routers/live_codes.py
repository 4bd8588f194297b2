"""``/live-codes``: a store's stable QR entry points into a group template's set of groups.

Store-scoped like everything else: another store's code answers 404. The QR code and the poster are PNGs
of the code's absolute join URL on this server.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Field, Path, Query, Router, Schema
from ninja.responses import Status

from siyu.api.auth import current_staff
from siyu.api.presenters import live_code_out
from siyu.api.schemas import Id, LiveCodeCreateIn, LiveCodeOut, LiveCodePage, PageParams, paginate
from siyu.communities.models import LiveCode
from siyu.communities.services import livecodes, queries
from siyu.org.services import stores as store_services

router = Router()


class LiveCodeFilterParams(Schema):
    store: Id | None = Field(None, description="Store id.")


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


def _out(request: HttpRequest, code: LiveCode) -> dict[str, Any]:
    return live_code_out(
        code,
        join_url=livecodes.join_url(code, _base_url(request)),
        qr_url=request.build_absolute_uri(reverse("api:live_code_qr", args=[code.pk])),
        poster_url=request.build_absolute_uri(reverse("api:live_code_poster", args=[code.pk])),
    )


def _png(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, max-age=300"
    return response


@router.get("", response=LiveCodePage)
def list_live_codes(
    request: HttpRequest, filters: Query[LiveCodeFilterParams], page: Query[PageParams]
) -> dict[str, Any]:
    """Live codes of the caller's stores (one store with ``store``), by store and template."""
    qs = queries.live_codes(current_staff(request), filters.store)
    count, items = paginate(qs, page)
    return {"count": count, "items": [_out(request, c) for c in items]}


@router.post("", response={201: LiveCodeOut})
def create_live_code(request: HttpRequest, payload: LiveCodeCreateIn) -> Status:
    """The live code of (store, template, optional staff member), created if new. Asking again for the same
    triple returns the same code (same token and QR)."""
    staff = current_staff(request)
    store = store_services.get_store(staff, payload.store_id)  # another store's is absent: 404
    code = livecodes.create_live_code(
        staff,
        store_id=store.pk,
        template_id=payload.template_id,
        staff_id=payload.staff_id,
        channel=payload.channel,
        connector_id=payload.connector_id,
    )
    code = queries.get_live_code(staff, code.pk)
    return Status(201, _out(request, code))


@router.get("/{int:live_code_id}", response=LiveCodeOut)
def get_live_code(request: HttpRequest, live_code_id: Path[Id]) -> dict[str, Any]:
    return _out(request, queries.get_live_code(current_staff(request), live_code_id))


@router.get("/{int:live_code_id}/qr.png", url_name="live_code_qr")
def live_code_qr(request: HttpRequest, live_code_id: Path[Id]) -> HttpResponse:
    """The QR code (PNG) of the code's join URL."""
    code = queries.get_live_code(current_staff(request), live_code_id)
    return _png(livecodes.live_code_png(code, _base_url(request)), f"live-code-{code.pk}.png")


@router.get("/{int:live_code_id}/poster.png", url_name="live_code_poster")
def live_code_poster(request: HttpRequest, live_code_id: Path[Id]) -> HttpResponse:
    """A printable A5 poster (PNG) with the store, the group template and the QR code."""
    code = queries.get_live_code(current_staff(request), live_code_id)
    return _png(livecodes.live_code_poster_png(code, _base_url(request)), f"live-code-{code.pk}-poster.png")
