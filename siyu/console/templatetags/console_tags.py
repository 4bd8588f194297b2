"""Template helpers for the console layout: brand name, capability checks, masked mobiles."""

from __future__ import annotations

import json
from typing import Any

from django import template

from siyu.common.mobile import mask_mobile
from siyu.common.validators import fen_to_yuan
from siyu.communities.models import Theme
from siyu.org.models import Staff
from siyu.org.services import brand
from siyu.org.services.access import has_capability

register = template.Library()


@register.simple_tag(takes_context=True)
def brand_name(context: template.Context) -> str:
    """The chain's name: SIYU_BRAND_NAME, else the Brand row, else the product name. Read once per request."""
    request = context.get("request")
    cached = getattr(request, "_siyu_brand_name", None)
    if cached is not None:
        return str(cached)
    name = brand.brand_name() or "Siyu 私域"
    if request is not None:
        request._siyu_brand_name = name
    return name


@register.filter
def can(user: object, capability: str) -> bool:
    """``{% if user|can:"audit.read" %}``."""
    return isinstance(user, Staff) and has_capability(user, capability)


@register.filter
def masked(mobile: str | None) -> str:
    return mask_mobile(mobile)


@register.filter
def as_json(value: Any) -> str:
    """Compact JSON for showing stored detail (audit entries); autoescaped by the template."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


@register.simple_tag
def theme_choices() -> list[tuple[str, str]]:
    """Group themes (value, label), for the group picker's theme filter."""
    return [(str(value), str(label)) for value, label in Theme.choices]


@register.filter
def yuan(fen: int | None) -> str:
    """Integer fen shown as yuan: ``12345`` → ``123.45``."""
    return fen_to_yuan(fen)
