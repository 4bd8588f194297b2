"""``/tokens``: the caller's own API tokens. The secret is returned once, at creation."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Path, Query, Router
from ninja.responses import Status

from siyu.api.auth import current_staff
from siyu.api.presenters import token_out
from siyu.api.schemas import Id, PageParams, TokenCreatedOut, TokenCreateIn, TokenOut, TokenPage, paginate
from siyu.org.models import ApiToken
from siyu.org.services import tokens as token_services

router = Router()


@router.get("", response=TokenPage)
def list_tokens(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """The caller's tokens, newest first, revoked ones included (with ``revoked_at``)."""
    qs = ApiToken.objects.filter(staff=current_staff(request)).order_by("-created_at", "-id")
    count, items = paginate(qs, page)
    return {"count": count, "items": [token_out(t) for t in items]}


@router.post("", response={201: TokenCreatedOut})
def create_token(request: HttpRequest, payload: TokenCreateIn) -> Status:
    """Create a token. The ``token`` field of this response is the only time the secret is shown."""
    token, secret = token_services.create_token(current_staff(request), payload.name)
    return Status(201, {**token_out(token), "token": secret})


@router.delete("/{int:token_id}", response=TokenOut)
def revoke_token(request: HttpRequest, token_id: Path[Id]) -> dict[str, Any]:
    """Revoke one of the caller's tokens (HQ admins: anyone's). Revoking twice is harmless."""
    return token_out(token_services.revoke_token(current_staff(request), token_id))
