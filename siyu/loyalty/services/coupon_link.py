"""The one place the points mall and tier birthdays call the coupons service (``issue``).

Until the coupons service is merged this is the hook point: nothing is issued (``issue_by_template_id``
answers None) and coupon items cannot be exchanged.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from siyu.common.errors import Conflict
from siyu.members.models import Member


def issue_by_template_id(
    template_id: int, member: Member, *, source: str, source_ref: str, key: str
) -> int | None:
    """Issue one coupon of template ``template_id`` to ``member``: its id, None when none was issued."""
    return None


def issue_for_exchange(template_id: int, member: Member, *, source_ref: str, key: str) -> int:
    """Issue the exchanged coupon; Conflict when it cannot be issued (the exchange then rolls back)."""
    coupon_id = issue_by_template_id(template_id, member, source="exchange", source_ref=source_ref, key=key)
    if coupon_id is None:
        raise Conflict(_("Coupons cannot be exchanged yet."), field="item", code="unavailable")
    return coupon_id
