"""The brand: one chain per deployment. The only place that looks the brand row up."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict
from siyu.org.models import Brand, Staff


def current_brand_id(staff: Staff | None = None) -> int:
    """The deployment's brand id (the staff member's own when set). Raises Conflict before setup."""
    if staff is not None and staff.brand_id:
        return staff.brand_id
    brand_id = Brand.objects.order_by("id").values_list("id", flat=True).first()
    if brand_id is None:
        raise Conflict(_("No brand is set up yet. Run `siyu seed-demo` or create the brand first."))
    return brand_id


def brand_name() -> str:
    """The chain's name for pages: ``SIYU_BRAND_NAME`` when set, else the brand row's name; empty before
    setup."""
    if settings.SIYU_BRAND_NAME:
        return str(settings.SIYU_BRAND_NAME)
    return Brand.objects.order_by("id").values_list("name", flat=True).first() or ""
