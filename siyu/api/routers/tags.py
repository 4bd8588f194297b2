"""``/tags``: the chain's tags; roles with tags.manage create tags and recompute rule tags."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Path, Query, Router
from ninja.responses import Status

from siyu.api.auth import current_staff
from siyu.api.presenters import tag_out
from siyu.api.schemas import Id, PageParams, RecomputeOut, TagCreateIn, TagOut, TagPage, paginate
from siyu.members.services import tags as tag_services

router = Router()


@router.get("", response=TagPage)
def list_tags(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """All tags, by group."""
    current_staff(request)
    count, items = paginate(tag_services.list_tags(), page)
    return {"count": count, "items": [tag_out(t) for t in items]}


@router.post("", response={201: TagOut})
def create_tag(request: HttpRequest, payload: TagCreateIn) -> Status:
    """Create a tag (and its group if new). With a ``rule`` it is filled by recompute, not by hand."""
    tag = tag_services.create_tag(
        current_staff(request), group=payload.group, name=payload.name, rule=payload.rule
    )
    return Status(201, tag_out(tag))


@router.post("/{int:tag_id}/recompute", response=RecomputeOut)
def recompute_tag(request: HttpRequest, tag_id: Path[Id]) -> dict[str, int]:
    """Make a rule tag's members exactly those matching its rule now."""
    return tag_services.recompute_rule_tag(current_staff(request), tag_id)
