"""Coupons: templates, issuance with SQL guards, use at checkout and at the counter (issue 11 point 4)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction

from siyu.common.errors import Conflict, NotFound
from siyu.loyalty.models import Coupon, CouponStatus, CouponTemplate
from siyu.loyalty.services import coupons
from tests.factories import (
    BrandFactory,
    MemberFactory,
    StoreFactory,
    give_coupon,
    make_coupon_template,
    window_days,
)

SH = ZoneInfo("Asia/Shanghai")


# --- issuance ------------------------------------------------------------------------------------------


def test_issue_gives_a_short_code_and_a_window_counting_today(brand, member_a):
    template = make_coupon_template(brand, valid_days=3)
    now = datetime(2026, 12, 1, 23, 30, tzinfo=SH)
    coupon = coupons.issue(template, member_a, source="exchange", source_ref="x1", key="sys:t:1", now=now)
    assert len(coupon.code) == 8 and coupon.status == CouponStatus.AVAILABLE
    assert coupon.valid_until == datetime(2026, 12, 3, 23, 59, 59, tzinfo=SH)
    assert coupon.seq == 1 and coupon.member_limit == 1
    assert coupons.code_from_scan(coupons.qr_payload(coupon)) == coupon.code
    assert coupons.code_from_scan(coupons.display_code(coupon).lower()) == coupon.code
    assert coupons.code_from_scan(coupons.qr_payload(coupon)[:-2] + "xx") is None
    template.refresh_from_db()
    assert template.issued_count == 1


def test_same_key_replays_and_other_request_is_a_mismatch(brand, member_a):
    template = make_coupon_template(brand, member_limit=3)
    first = coupons.issue(template, member_a, source="exchange", source_ref="e1", key="sys:k")
    again = coupons.issue(template, member_a, source="exchange", source_ref="e1", key="sys:k")
    assert again.pk == first.pk and Coupon.objects.count() == 1
    with pytest.raises(Conflict) as err:
        coupons.issue(template, member_a, source="exchange", source_ref="e2", key="sys:k")
    assert err.value.code == "idempotency_mismatch"


def test_per_member_limit_and_total_quantity(brand, member_a, member_b):
    template = make_coupon_template(brand, member_limit=2, total_quantity=3)
    give_coupon(template, member_a)
    give_coupon(template, member_a)
    with pytest.raises(Conflict) as err:
        give_coupon(template, member_a)
    assert err.value.code == "coupon_limit_reached"
    give_coupon(template, member_b)
    with pytest.raises(Conflict) as err:
        give_coupon(template, member_b)
    assert err.value.code == "coupons_sold_out"
    template.refresh_from_db()
    assert template.issued_count == 3 == Coupon.objects.count()


def test_the_database_refuses_what_the_service_would(brand, member_a):
    template = make_coupon_template(brand, total_quantity=1)
    coupon = give_coupon(template, member_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        CouponTemplate.objects.filter(pk=template.pk).update(issued_count=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        Coupon.objects.filter(pk=coupon.pk).update(seq=2)  # beyond the copied limit of 1


def test_refused_for_other_brand_inactive_or_ended(brand, member_a):
    other_brand = BrandFactory(code="other-brand", name="别家")
    other = MemberFactory(brand=other_brand, home_store=StoreFactory(brand=other_brand, code="Z001"))
    template = make_coupon_template(brand, **window_days(1))
    with pytest.raises(NotFound):
        give_coupon(template, other)
    template.active = False
    template.save()
    with pytest.raises(Conflict):
        give_coupon(template, member_a)
    template.active = True
    template.save()
    with pytest.raises(Conflict):
        give_coupon(template, member_a, now=template.valid_until + timedelta(seconds=1))
    assert Coupon.objects.count() == 0


def test_expiry_job_frees_codes(brand, member_a):
    template = make_coupon_template(brand, valid_days=1)
    coupon = give_coupon(template, member_a)
    assert coupons.effective_status(coupon, coupon.valid_until + timedelta(seconds=1)) == "expired"
    assert coupons.expire_due(now=coupon.valid_until + timedelta(seconds=1)) == 1
    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.EXPIRED
