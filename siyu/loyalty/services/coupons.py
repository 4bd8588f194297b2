"""Issuing coupons to members (ADR 0014): one at a time (``issue``), used by staff, campaigns, the points mall
and the API. Bulk issuance to a segment is ``coupons_bulk``; using coupons is ``coupons_checkout`` (online)
and ``coupons_counter`` (at the counter).

Guarantees of ``issue``:

- **Total quantity in SQL.** The template's ``issued_count`` grows by one conditional UPDATE
  (``issued_count < total_quantity``) with a CHECK behind it: 300 parallel claims of a template of 100 give
  exactly 100 coupons; the others get Conflict ``coupons_sold_out``.
- **Per member in SQL.** The coupon takes the next number among the member's coupons of the template
  (``seq``); UNIQUE (template, member, seq) and CHECK ``seq <= member_limit`` (the limit copied onto the row)
  refuse a claim beyond the limit even from parallel requests: Conflict ``coupon_limit_reached``.
- **Once per key.** UNIQUE (member, key): the same key with the same request returns the first coupon and
  changes nothing; with another request, Conflict ``idempotency_mismatch``. Callers pass a key already scoped
  to who asks (``system_key`` for Siyu's own writes, ``client_key`` for a person's or a client's).
- **All or nothing.** It runs in one transaction (a savepoint inside the caller's): a caller that moves
  points or stock in the same transaction (the points mall) keeps both or neither. It locks the template row
  (the conditional UPDATE) until the caller's transaction ends.
- **A short code from the pickup generator** (``siyu.orders.services.pickup_codes``), unique among open
  coupons (partial unique index), and a signed QR payload (``qr_payload``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import mismatch, request_hash
from siyu.loyalty.models import Coupon, CouponSource, CouponStatus, CouponTemplate
from siyu.members.models import Member
from siyu.orders.services.pickup_codes import draw_short_code, format_short_code, normalise_short_code
from siyu.org.models import Staff

_SALT = "siyu.loyalty.coupon"
QR_PREFIX = "CPN"
_ATTEMPTS = 8
MAX_SOURCE_REF = 64


class CouponsSoldOut(Conflict):
    code = "coupons_sold_out"


class CouponLimitReached(Conflict):
    code = "coupon_limit_reached"


# --- codes ---------------------------------------------------------------------------------------------


def qr_payload(coupon: Coupon) -> str:
    """What the member's QR holds: ``CPN:<short code>:<signature>`` (the pickup scanner reads both)."""
    return signing.Signer(salt=_SALT).sign(f"{QR_PREFIX}:{coupon.code}")


def code_from_scan(text: str) -> str | None:
    """The short code in a scanned QR payload or typed by a clerk, or None when it is neither (a bad
    signature, a wrong length, characters outside the alphabet)."""
    if not isinstance(text, str) or len(text) > 200:
        return None
    raw = text.strip()
    if raw.startswith(QR_PREFIX + ":"):
        try:
            value = signing.Signer(salt=_SALT).unsign(raw)
        except signing.BadSignature:
            return None
        return normalise_short_code(value.split(":", 1)[1])
    return normalise_short_code(raw)


def display_code(coupon: Coupon) -> str:
    """The short code grouped for reading aloud (``K7Q4-9XMP``)."""
    return format_short_code(coupon.code)


# --- validity ------------------------------------------------------------------------------------------


def end_of_day(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    return local.replace(hour=23, minute=59, second=59, microsecond=0)


def window_for(template: CouponTemplate, now: datetime) -> tuple[datetime, datetime]:
    """When a coupon issued ``now`` is valid: the template's window, or from now for ``valid_days`` days
    counting today (until the end of the last day, Asia/Shanghai)."""
    if template.valid_days:
        return now, end_of_day(now + timedelta(days=template.valid_days - 1))
    assert template.valid_until is not None
    start = template.valid_from or now
    return min(start, now), template.valid_until


def check_issuable(template: CouponTemplate, member: Member, now: datetime) -> None:
    """Refuse (Conflict/NotFound) issuing ``template`` to ``member`` now: another brand, an inactive
    template, its issuing window over, an erased member."""
    if template.brand_id != member.brand_id or member.erased_at is not None:
        raise NotFound(_("No such member."), field="member")
    if not template.active:
        raise Conflict(_("This coupon is no longer issued."), field="template", code="coupon_inactive")
    if template.valid_until is not None and template.valid_until <= now:
        raise Conflict(_("This coupon has ended."), field="template", code="coupon_ended")


def next_seq(template_id: int, member_id: int) -> int:
    top = Coupon.objects.filter(template_id=template_id, member_id=member_id).aggregate(n=Max("seq"))["n"]
    return int(top or 0) + 1


def _replay(member: Member, key: str, rhash: str) -> Coupon | None:
    found = Coupon.objects.filter(member=member, idempotency_key=key).first()
    if found is not None and found.request_hash != rhash:
        raise mismatch()
    return found


def _limit_reached() -> CouponLimitReached:
    return CouponLimitReached(
        _("You already have as many of this coupon as one member may have."), field="template"
    )


def sold_out() -> CouponsSoldOut:
    return CouponsSoldOut(_("All of these coupons have been given out."), field="template")


# --- issuing one ---------------------------------------------------------------------------------------


def issue(
    template: CouponTemplate,
    member: Member,
    *,
    source: str = CouponSource.EXCHANGE,
    source_ref: str = "",
    key: str,
    actor: Staff | None = None,
    now: datetime | None = None,
) -> Coupon:
    """Give ``member`` one coupon of ``template`` (see module guarantees). ``source`` is one of
    ``CouponSource`` (manual, segment, campaign, exchange, api) and ``source_ref`` what caused it (an
    exchange id, a campaign id…). Refusals (Conflict ``coupons_sold_out``, ``coupon_limit_reached``,
    ``coupon_inactive``, ``coupon_ended``, ``idempotency_mismatch``; NotFound for a member of another brand)
    change nothing."""
    return issue_once(template, member, source=source, source_ref=source_ref, key=key, actor=actor, now=now)[
        0
    ]


def issue_once(
    template: CouponTemplate,
    member: Member,
    *,
    source: str,
    source_ref: str = "",
    key: str,
    actor: Staff | None = None,
    now: datetime | None = None,
) -> tuple[Coupon, bool]:
    """``issue``, and whether this call issued it (False: the key's earlier coupon, replayed)."""
    if source not in CouponSource.values:
        raise ValueError(f"unknown coupon source {source!r}")
    if not key or len(key) > 80:
        raise ValueError("a coupon issue key is 1-80 characters (a system_key or client_key)")
    source_ref = str(source_ref)[:MAX_SOURCE_REF]
    rhash = request_hash("coupon.issue", template.pk, source, source_ref)
    found = _replay(member, key, rhash)
    if found is not None:
        return found, False
    now = now or timezone.now()
    check_issuable(template, member, now)
    valid_from, valid_until = window_for(template, now)
    for _attempt in range(_ATTEMPTS):
        seq = next_seq(template.pk, member.pk)
        if seq > template.member_limit:
            raise _limit_reached()
        try:
            with transaction.atomic():
                taken = (
                    CouponTemplate.objects.filter(pk=template.pk)
                    .filter(Q(total_quantity__isnull=True) | Q(issued_count__lt=F("total_quantity")))
                    .update(issued_count=F("issued_count") + 1)
                )
                if not taken:
                    raise sold_out()
                # Under the template row's lock: count again (a parallel claim of this member may have
                # committed while we waited).
                seq = next_seq(template.pk, member.pk)
                if seq > template.member_limit:
                    raise _limit_reached()
                coupon = Coupon.objects.create(
                    brand_id=template.brand_id,
                    template=template,
                    member=member,
                    seq=seq,
                    member_limit=template.member_limit,
                    code=draw_short_code(),
                    issued_at=now,
                    valid_from=valid_from,
                    valid_until=valid_until,
                    source=source,
                    source_ref=source_ref,
                    issued_by=actor,
                    idempotency_key=key,
                    request_hash=rhash,
                )
                record_event(
                    "coupon.issued",
                    member_id=member.pk,
                    occurred_at=now,
                    payload={"coupon_id": coupon.pk, "template_id": template.pk, "source": source},
                )
            return coupon, True
        except IntegrityError:
            # A parallel request with this key won, or took this seq, or (rarely) the code: look again.
            found = _replay(member, key, rhash)
            if found is not None:
                return found, False
    raise Conflict(_("The coupon could not be issued; try again."), field="template", code="coupon_retry")


# --- reading -------------------------------------------------------------------------------------------


def get_template(brand_id: int, template_id: Any) -> CouponTemplate:
    try:
        pk = int(template_id)
    except (TypeError, ValueError):
        raise NotFound(_("No such coupon."), field="template") from None
    if not 0 < pk < 2**63:
        raise NotFound(_("No such coupon."), field="template")
    template = CouponTemplate.objects.filter(brand_id=brand_id, pk=pk).first()
    if template is None:
        raise NotFound(_("No such coupon."), field="template")
    return template


def effective_status(coupon: Coupon, now: datetime | None = None) -> str:
    """The status as the member sees it: an available coupon past its window is expired even before the
    expiry job wrote it down."""
    if coupon.status == CouponStatus.AVAILABLE and coupon.valid_until <= (now or timezone.now()):
        return CouponStatus.EXPIRED
    return coupon.status


def expire_due(*, now: datetime | None = None) -> int:
    """Mark every available coupon past its window expired (the ``coupons-expiry`` job); frees their short
    codes. Returns how many."""
    now = now or timezone.now()
    return Coupon.objects.filter(status=CouponStatus.AVAILABLE, valid_until__lte=now).update(
        status=CouponStatus.EXPIRED
    )


def clean_source(value: Any) -> str:
    if value not in CouponSource.values:
        raise ValidationFailed(_("Unknown coupon source."), field="source")
    return str(value)
