"""Template tags of the H5 pages for flash sales."""

from __future__ import annotations

from typing import Any

from django import template

from siyu.campaigns.models import Campaign
from siyu.campaigns.services.flash_sales import running_flash_sales as _running

register = template.Library()


@register.simple_tag
def running_flash_sales(member: Any) -> list[Campaign]:
    """The flash sales of the member's brand running now (for the member's home page)."""
    brand_id = getattr(member, "brand_id", None)
    return _running(brand_id) if brand_id else []
