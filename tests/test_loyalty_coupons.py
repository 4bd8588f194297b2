"""Coupons: templates, issuance with SQL guards, use at checkout and at the counter (issue 11 point 4)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from siyu.channels.payments.sandbox import confirm_sandbox_payment
from siyu.common.errors import Conflict, NotFound, PermissionDenied, RateLimited, ValidationFailed
from siyu.loyalty.models import Coupon, CouponBudget, CouponStatus, CouponTemplate
from siyu.loyalty.services import coupons, coupons_admin, coupons_checkout, coupons_counter
from siyu.loyalty.services import coupons_rules as rules
from siyu.members.models import MemberTag
from siyu.members.services.profiles import MemberFilter
from siyu.orders.models import Order
from siyu.orders.services import checkout, expiry, payments, transitions
from siyu.org.models import AuditEntry
from tests.api_support import assert_error
from tests.factories import (
    BrandFactory,
    MemberFactory,
    StaffFactory,
    StoreFactory,
    TagFactory,
    candle_sku,
    give_coupon,
    listing_for,
    make_coupon_template,
    new_key,
    pickup_window,
    two_cups_at,
    window_days,
)
from tests.h5_support import TOMORROW_MORNING, add_to_cart, member_client

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


# --- the rules by example -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "eligible", "expected"),
    [
        ({"kind": "fixed", "amount_fen": 1000}, 3000, 1000),
        ({"kind": "fixed", "amount_fen": 1000}, 600, 600),  # never more than what is in scope
        ({"kind": "fixed", "amount_fen": 1000, "threshold_fen": 5000}, 4999, None),
        ({"kind": "percent", "percent_off": 15}, 3333, 499),  # rounded down to the fen
        ({"kind": "percent", "percent_off": 50, "cap_fen": 800}, 3000, 800),
        ({"kind": "threshold", "amount_fen": 2000, "threshold_fen": 10000}, 9999, None),
        ({"kind": "threshold", "amount_fen": 2000, "threshold_fen": 10000}, 10000, 2000),
        ({"kind": "fixed", "amount_fen": 1000}, 0, None),
    ],
)
def test_worth_by_example(fields, eligible, expected):
    template = CouponTemplate(valid_days=1, **fields)
    got = rules.worth(template, eligible)
    assert (got.discount_fen if got else None) == expected


def test_rules_in_a_sentence(brand):
    template = make_coupon_template(brand, kind="threshold", amount_fen=2000, threshold_fen=10000)
    text = rules.describe(template, store_names=["朝阳大悦城店"])
    assert "100.00" in text and "20.00" in text and "朝阳大悦城店" in text


# --- checkout -------------------------------------------------------------------------------------------


@pytest.fixture
def cups(hq_admin, store_a, store_b):
    """CUP-W (39.00, member 35.00) and CUP-B (20.00) at store A, 10 in stock each."""
    return two_cups_at(hq_admin, store_a)


def _checkout(member, store, items, choice: str | None, key: str | None = None):
    return checkout.create_order(
        member,
        store_id=store.pk,
        items=items,
        pickup_window=pickup_window(),
        idempotency_key=key or new_key(),
        options={"coupons": choice} if choice is not None else None,
    )


def test_checkout_with_a_coupon_stores_the_discount_and_uses_it(brand, member_a, store_a, cups):
    coupon = give_coupon(make_coupon_template(brand, amount_fen=1000), member_a)
    order = _checkout(member_a, store_a, [(cups[0].pk, 2)], str(coupon.pk))
    assert order.total_fen == 2 * 3500 - 1000
    adjustment = order.adjustments.get(kind="coupon")
    assert adjustment.amount_fen == -1000 and adjustment.reference == f"cpn:{coupon.pk}"
    coupon.refresh_from_db()
    assert coupon.status == "used" and coupon.order_id == order.pk and coupon.discount_fen == 1000
    # A second order with the same coupon is refused and leaves nothing behind.
    with pytest.raises(Conflict) as err:
        _checkout(member_a, store_a, [(cups[1].pk, 1)], str(coupon.pk))
    assert err.value.code == "coupon_unusable"
    assert Order.objects.count() == 1


def test_same_key_with_another_coupon_choice_is_a_mismatch(brand, member_a, store_a, cups):
    coupon = give_coupon(make_coupon_template(brand), member_a)
    key = new_key()
    first = _checkout(member_a, store_a, [(cups[0].pk, 1)], None, key=key)
    with pytest.raises(Conflict) as err:
        _checkout(member_a, store_a, [(cups[0].pk, 1)], str(coupon.pk), key=key)
    assert err.value.code == "idempotency_mismatch"
    assert _checkout(member_a, store_a, [(cups[0].pk, 1)], None, key=key).pk == first.pk


def test_cancel_gives_the_coupon_back(brand, member_a, store_a, cups):
    coupon = give_coupon(make_coupon_template(brand), member_a)
    order = _checkout(member_a, store_a, [(cups[0].pk, 1)], str(coupon.pk))
    transitions.cancel(order.pk, member=member_a)
    coupon.refresh_from_db()
    assert coupon.status == "available" and coupon.order_id is None and coupon.returned_count == 1
    assert _checkout(member_a, store_a, [(cups[0].pk, 1)], str(coupon.pk)).total_fen == 2500


def test_expired_unpaid_order_gives_the_coupon_back(brand, member_a, store_a, cups):
    coupon = give_coupon(make_coupon_template(brand), member_a)
    order = _checkout(member_a, store_a, [(cups[0].pk, 1)], str(coupon.pk))
    assert expiry.expire_due(now=order.expires_at + timedelta(seconds=1)) == 1
    coupon.refresh_from_db()
    assert coupon.status == "available"


def _paid(order):
    payments.start_payment(order, notify_url="https://example.invalid/")
    payments.apply_payment_notice(confirm_sandbox_payment(order.out_trade_no))
    order.refresh_from_db()
    assert order.status == "paid"
    return order


@pytest.mark.parametrize("returns", [True, False])
def test_refund_returns_the_coupon_only_if_allowed(sandbox, brand, member_a, store_a, clerk_a, cups, returns):
    coupon = give_coupon(make_coupon_template(brand, return_on_refund=returns), member_a)
    order = _paid(_checkout(member_a, store_a, [(cups[0].pk, 1)], str(coupon.pk)))
    transitions.refund(clerk_a, order.pk, "customer changed mind")
    coupon.refresh_from_db()
    assert coupon.status == ("available" if returns else "used")


def test_refund_after_the_window_does_not_return(sandbox, brand, member_a, store_a, clerk_a, cups):
    coupon = give_coupon(make_coupon_template(brand, return_on_refund=True), member_a)
    order = _paid(_checkout(member_a, store_a, [(cups[0].pk, 1)], str(coupon.pk)))
    now = timezone.now()
    Coupon.objects.filter(pk=coupon.pk).update(
        valid_from=now - timedelta(days=2), valid_until=now - timedelta(seconds=1)
    )
    transitions.refund(clerk_a, order.pk, "late")
    coupon.refresh_from_db()
    assert coupon.status == "used"


def test_scope_stacking_threshold_and_store(brand, hq_admin, member_a, store_a, store_b, cups):
    candle = listing_for(store_a, candle_sku(hq_admin))
    only_b = give_coupon(make_coupon_template(brand, name="B店券", stores=[store_b]), member_a)
    with pytest.raises(Conflict):
        _checkout(member_a, store_a, [(cups[0].pk, 1)], str(only_b.pk))
    big = give_coupon(
        make_coupon_template(brand, kind="threshold", amount_fen=2000, threshold_fen=10000), member_a
    )
    with pytest.raises(Conflict):
        _checkout(member_a, store_a, [(cups[0].pk, 2)], str(big.pk))  # 70.00 < 100.00
    a = give_coupon(make_coupon_template(brand, name="叠加一", amount_fen=300, stackable=True), member_a)
    b = give_coupon(make_coupon_template(brand, name="叠加二", amount_fen=200, stackable=True), member_a)
    alone = give_coupon(make_coupon_template(brand, name="独享", amount_fen=900), member_a)
    with pytest.raises(Conflict):
        _checkout(member_a, store_a, [(cups[0].pk, 1)], f"{a.pk},{alone.pk}")
    order = _checkout(member_a, store_a, [(cups[0].pk, 1)], f"{a.pk},{b.pk}")
    assert order.total_fen == 3500 - 500
    # A product-scoped 50% coupon only discounts the lines of that product.
    half = give_coupon(
        make_coupon_template(brand, kind="percent", percent_off=50, products=[candle.sku.product]), member_a
    )
    order = _checkout(member_a, store_a, [(cups[0].pk, 1), (candle.pk, 1)], str(half.pk))
    assert order.total_fen == 3500 + 6500 - 3250


def test_suggestion_is_the_best_choice(brand, member_a, store_a, cups):
    give_coupon(make_coupon_template(brand, name="5元", amount_fen=500), member_a)
    ten = give_coupon(make_coupon_template(brand, name="10元", amount_fen=1000), member_a)
    give_coupon(
        make_coupon_template(brand, name="满200", kind="threshold", amount_fen=5000, threshold_fen=20000),
        member_a,
    )
    sku = cups[0].sku
    got = coupons_checkout.suggest(member_a.pk, store_a.pk, [(sku, 1, 3500)])
    assert got.best == (ten.pk,) and got.best_fen == 1000 and len(got.offers) == 2
    s1 = give_coupon(make_coupon_template(brand, name="叠1", amount_fen=600, stackable=True), member_a)
    s2 = give_coupon(make_coupon_template(brand, name="叠2", amount_fen=600, stackable=True), member_a)
    got = coupons_checkout.suggest(member_a.pk, store_a.pk, [(sku, 1, 3500)])
    assert set(got.best) == {s1.pk, s2.pk} and got.best_fen == 1200


def test_store_budget_is_charged_and_refuses_when_spent(brand, member_a, member_b, store_a, cups):
    template = make_coupon_template(brand, amount_fen=1000, store_budget_fen=1500, member_limit=2)
    first = give_coupon(template, member_a)
    second = give_coupon(template, member_a)
    _checkout(member_a, store_a, [(cups[0].pk, 1)], str(first.pk))
    assert CouponBudget.objects.get(template=template, store=store_a).spent_fen == 1000
    with pytest.raises(Conflict):
        _checkout(member_a, store_a, [(cups[0].pk, 1)], str(second.pk))
    second.refresh_from_db()
    assert second.status == "available"


# --- at the counter -------------------------------------------------------------------------------------


def test_counter_finds_quotes_and_redeems_once(brand, member_a, store_a, clerk_a):
    template = make_coupon_template(
        brand, kind="percent", percent_off=20, cap_fen=1500, store_budget_fen=5000, member_limit=2
    )
    coupon = give_coupon(template, member_a)
    found = coupons_counter.find(clerk_a, coupons.display_code(coupon).lower())
    assert found.coupon.pk == coupon.pk and found.stores == (store_a,)
    assert coupons_counter.quote(template, 5000).discount_fen == 1000
    assert coupons_counter.quote(template, 50000).discount_fen == 1500  # the cap
    done = coupons_counter.redeem(clerk_a, coupons.qr_payload(coupon), sale_fen=5000, key="k1")
    assert done.quote.discount_fen == 1000 and done.quote.pay_fen == 4000
    coupon.refresh_from_db()
    assert coupon.status == "used" and coupon.used_by == clerk_a and coupon.used_store == store_a
    assert CouponBudget.objects.get(template=template, store=store_a).spent_fen == 1000
    assert AuditEntry.objects.filter(action="coupons.redeem", target_id=str(coupon.pk)).count() == 1
    # The same confirmation retried answers the first result; another clerk's is refused.
    again = coupons_counter.redeem(clerk_a, coupon.code, sale_fen=5000, key="k1")
    assert again.replayed and again.quote.discount_fen == 1000
    with pytest.raises(NotFound):
        coupons_counter.redeem(clerk_a, coupon.code, sale_fen=5000, key="k2")


def test_counter_store_scoping(brand, member_a, store_a, store_b, clerk_a):
    clerk_b = StaffFactory(brand=brand, username="clerkb", role="clerk", stores=[store_b])
    only_b = give_coupon(make_coupon_template(brand, name="B店券", stores=[store_b]), member_a)
    with pytest.raises(NotFound):
        coupons_counter.find(clerk_a, only_b.code)
    with pytest.raises(NotFound):
        coupons_counter.redeem(clerk_a, coupons.qr_payload(only_b), sale_fen=3000, key="k")
    assert coupons_counter.find(clerk_b, only_b.code).coupon.pk == only_b.pk
    # HQ staff serve no store: the counter is not theirs.
    hq = StaffFactory(brand=brand, username="hq2", role="hq_admin")
    with pytest.raises(NotFound):
        coupons_counter.find(hq, only_b.code)


def test_counter_threshold_and_attempt_limits(settings, brand, member_a, clerk_a):
    coupon = give_coupon(
        make_coupon_template(brand, kind="threshold", amount_fen=1000, threshold_fen=5000), member_a
    )
    with pytest.raises(Conflict):
        coupons_counter.redeem(clerk_a, coupon.code, sale_fen=4999, key="k")
    settings.SIYU_PICKUP_MISSES_PER_STAFF = 3
    for _ in range(3):
        with pytest.raises(NotFound):
            coupons_counter.find(clerk_a, "2222-2222")
    with pytest.raises(RateLimited):
        coupons_counter.find(clerk_a, "3333-3333")


# --- staff: templates and issuing -----------------------------------------------------------------------


def test_templates_need_hq_and_are_checked_whole(brand, hq_admin, manager_a, store_a):
    data = {
        "name": "满100减20",
        "kind": "threshold",
        "amount_fen": 2000,
        "threshold_fen": 10000,
        "valid_days": 7,
    }
    with pytest.raises(PermissionDenied):
        coupons_admin.create_template(manager_a, data)
    template = coupons_admin.create_template(hq_admin, {**data, "store_ids": [store_a.pk]})
    assert list(template.stores.all()) == [store_a]
    with pytest.raises(ValidationFailed) as err:
        coupons_admin.create_template(hq_admin, {**data, "threshold_fen": 2000})
    assert err.value.field == "threshold_fen"
    with pytest.raises(ValidationFailed):
        coupons_admin.create_template(hq_admin, {**data, "valid_days": None})
    with pytest.raises(ValidationFailed):
        coupons_admin.create_template(
            hq_admin, {"name": "x", "kind": "percent", "percent_off": 100, "valid_days": 1}
        )
    template = coupons_admin.update_template(hq_admin, template.pk, {**data, "total_quantity": 5})
    assert template.total_quantity == 5


def test_manager_issues_only_to_their_stores_members(brand, manager_a, member_a, member_b):
    template = make_coupon_template(brand)
    coupon, new = coupons_admin.issue_to_member(manager_a, template.pk, member_a.pk, key="k")
    assert new and coupon.source == "manual" and coupon.issued_by == manager_a
    assert coupons_admin.issue_to_member(manager_a, template.pk, member_a.pk, key="k")[0].pk == coupon.pk
    with pytest.raises(NotFound):
        coupons_admin.issue_to_member(manager_a, template.pk, member_b.pk, key="k2")


def test_segment_preview_and_quota_guard(brand, hq_admin, store_a, member_a):
    tag = TagFactory(name="老客")
    members = [MemberFactory(brand=brand, home_store=store_a) for _ in range(5)]
    for m in members:
        MemberTag.objects.create(member=m, tag=tag)
    template = make_coupon_template(brand, total_quantity=3)
    give_coupon(template, members[0])  # already at the limit of one
    f = MemberFilter(tag_id=tag.pk)
    preview = coupons_admin.segment_preview(hq_admin, template.pk, f)
    assert (preview.audience, preview.eligible, preview.remaining, preview.will_issue) == (5, 4, 2, 2)
    result = coupons_admin.issue_to_segment(hq_admin, template.pk, f, key="seg-1")
    assert result.issued == 2 and not result.replayed
    template.refresh_from_db()
    assert template.issued_count == 3 == Coupon.objects.filter(template=template).count()
    assert coupons_admin.issue_to_segment(hq_admin, template.pk, f, key="seg-1").replayed
    assert coupons_admin.issue_to_segment(hq_admin, template.pk, f, key="seg-2").issued == 0


# --- API ------------------------------------------------------------------------------------------------


def test_api_templates_issue_redeem_and_wallet(as_admin, as_manager, as_clerk, store_a, member_a, member_b):
    body = {
        "name": "满50减10",
        "kind": "threshold",
        "amount_fen": 1000,
        "threshold_fen": 5000,
        "valid_days": 7,
    }
    assert_error(as_manager.post("/coupon-templates", body), 403)
    created = as_admin.post("/coupon-templates", body)
    assert created.status_code == 201, created.content
    tid = created.json()["id"]
    assert "50.00" in created.json()["rules"]
    assert_error(
        as_admin.post("/coupon-templates", {**body, "threshold_fen": 500}), 400, field="threshold_fen"
    )
    # A store manager issues to their store's member; a retry answers the first coupon (200).
    issued = as_manager.post(
        f"/coupon-templates/{tid}/issue", {"member_id": member_a.pk}, headers={"Idempotency-Key": "i1"}
    )
    assert issued.status_code == 201, issued.content
    again = as_manager.post(
        f"/coupon-templates/{tid}/issue", {"member_id": member_a.pk}, headers={"Idempotency-Key": "i1"}
    )
    assert again.status_code == 200 and again.json()["id"] == issued.json()["id"]
    assert_error(
        as_manager.post(
            f"/coupon-templates/{tid}/issue", {"member_id": member_b.pk}, headers={"Idempotency-Key": "i2"}
        ),
        404,
    )
    assert_error(as_manager.post(f"/coupon-templates/{tid}/issue", {"member_id": member_a.pk}), 400)
    code = issued.json()["code"]
    redeem = {"code": code, "sale_fen": 6000}
    assert_error(
        as_clerk.post("/coupons/redeem", {**redeem, "sale_fen": 4000}, headers={"Idempotency-Key": "r0"}),
        409,
        "coupon_unusable",
    )
    done = as_clerk.post("/coupons/redeem", redeem, headers={"Idempotency-Key": "r1"})
    assert done.status_code == 200, done.content
    assert done.json()["discount_fen"] == 1000 and done.json()["pay_fen"] == 5000
    assert (
        as_clerk.post("/coupons/redeem", redeem, headers={"Idempotency-Key": "r1"}).json()["discount_fen"]
        == 1000
    )
    wallet = as_clerk.get(f"/members/{member_a.pk}/coupons").json()
    assert wallet["count"] == 1 and wallet["items"][0]["status"] == "used"
    listed = as_admin.get("/coupon-templates").json()
    assert listed[0]["issued"] == 1 and listed[0]["used"] == 1 and listed[0]["cost_fen"] == 1000


def test_api_segment_preview_then_issue(as_admin, brand, store_a, member_a):
    template = make_coupon_template(brand, total_quantity=10)
    preview = as_admin.post(f"/coupon-templates/{template.pk}/segment-preview", {"store": store_a.pk}).json()
    assert preview == {"audience": 1, "eligible": 1, "remaining": 10, "will_issue": 1}
    got = as_admin.post(
        f"/coupon-templates/{template.pk}/segment", {"store": store_a.pk}, headers={"Idempotency-Key": "s"}
    )
    assert got.status_code == 201 and got.json() == {"issued": 1, "audience": 1}
    again = as_admin.post(
        f"/coupon-templates/{template.pk}/segment", {"store": store_a.pk}, headers={"Idempotency-Key": "s"}
    )
    assert again.status_code == 200


# --- console: the pickup scanner takes coupon codes -----------------------------------------------------


def test_console_counter_flow_by_typed_code(client, brand, clerk_a, member_a, store_a):
    coupon = give_coupon(make_coupon_template(brand, name="十元券", amount_fen=1000), member_a)
    client.force_login(clerk_a)
    fetch = {"HTTP_X_REQUESTED_WITH": "fetch"}
    found = client.post("/pickup/verify/", {"code": coupons.display_code(coupon).lower()}, **fetch)
    assert found.status_code == 200 and 'data-pickup-step="coupon"' in found.content.decode()
    assert "十元券" in found.content.decode()
    quoted = client.post("/pickup/verify/", {"code": coupon.code, "coupon": "quote", "sale": "45.5"}, **fetch)
    page = quoted.content.decode()
    assert "35.50" in page and "10.00" in page, page
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    confirm = {"code": coupon.code, "coupon": "confirm", "sale_fen_yuan": "45.50", "idempotency_key": key}
    done = client.post("/pickup/verify/", confirm, **fetch)
    assert 'data-pickup-step="coupon_done"' in done.content.decode()
    coupon.refresh_from_db()
    assert coupon.status == "used" and coupon.sale_fen == 4550
    # Confirmed twice (a double tap): one use, the same answer.
    assert "coupon_done" in client.post("/pickup/verify/", confirm, **fetch).content.decode()
    refused = client.post("/pickup/verify/", {"code": "2345-6789"}, **fetch)
    assert refused.status_code == 404 and 'data-pickup-step="refused"' in refused.content.decode()


# --- H5: wallet, coupon page, checkout choice -----------------------------------------------------------


def test_h5_wallet_tabs_and_qr_page(brand, member_a, member_b):
    mine = give_coupon(make_coupon_template(brand, name="十元券"), member_a)
    theirs = give_coupon(make_coupon_template(brand, name="别人的券"), member_b)
    client = member_client(member_a)
    page = client.get("/h5/coupons/").content.decode()
    assert "十元券" in page and "别人的券" not in page
    assert "十元券" not in client.get("/h5/coupons/?tab=used").content.decode()
    detail = client.get(f"/h5/coupons/{mine.pk}/").content.decode()
    assert coupons.display_code(mine) in detail
    qr = client.get(f"/h5/coupons/{mine.pk}/qr.png")
    assert qr.status_code == 200 and qr["Content-Type"] == "image/png"
    assert client.get(f"/h5/coupons/{theirs.pk}/").status_code == 404
    assert client.get(f"/h5/coupons/{theirs.pk}/qr.png").status_code == 404


def test_h5_checkout_suggests_the_best_and_uses_the_choice(brand, member_a, store_a, cups):
    give_coupon(make_coupon_template(brand, name="五元券", amount_fen=500), member_a)
    ten = give_coupon(make_coupon_template(brand, name="十元券", amount_fen=1000), member_a)
    client = member_client(member_a)
    add_to_cart(client, cups[0])
    page = client.get("/h5/mall/cart/").content.decode()
    assert f'value="{ten.pk}" checked' in page and "五元券" in page
    window = TOMORROW_MORNING
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    done = client.post(
        "/h5/mall/checkout/", {"pickup_window": window, "idempotency_key": key, "coupons": str(ten.pk)}
    )
    assert done.status_code == 302
    order = Order.objects.get()
    assert order.total_fen == 3500 - 1000
    assert "十元券" in client.get(f"/h5/orders/{order.pk}/").content.decode()


def test_console_templates_create_edit_and_issue(client, brand, hq_admin, manager_a, store_a, member_a):
    client.force_login(hq_admin)
    assert client.get("/coupons/").status_code == 200
    form = {
        "name": "满100减20",
        "kind": "threshold",
        "amount": "20",
        "threshold": "100",
        "valid_days": "30",
        "member_limit": "1",
        "total_quantity": "50",
        "active": "on",
    }
    bad = client.post("/coupons/new/", {**form, "threshold": "10"})
    assert bad.status_code == 200 and CouponTemplate.objects.count() == 0
    created = client.post("/coupons/new/", form)
    assert created.status_code == 302
    template = CouponTemplate.objects.get()
    assert (template.amount_fen, template.threshold_fen, template.total_quantity) == (2000, 10000, 50)
    assert client.post(f"/coupons/{template.pk}/edit/", {**form, "name": "满100减20元"}).status_code == 302
    template.refresh_from_db()
    assert template.name == "满100减20元"
    # A store manager may issue, not edit; the preview counts before issuing.
    client.force_login(manager_a)
    assert client.get(f"/coupons/{template.pk}/edit/").status_code == 403
    detail = client.get(f"/coupons/{template.pk}/").content.decode()
    assert "满100减20元" in detail and "100.00" in detail
    preview = client.post(f"/coupons/{template.pk}/segment/", {"action": "preview", "store": store_a.pk})
    assert "1" in preview.content.decode() and 'data-testid="coupon-preview"' in preview.content.decode()
    done = client.post(
        f"/coupons/{template.pk}/segment/", {"action": "issue", "store": store_a.pk, "idempotency_key": "seg"}
    )
    assert done.status_code == 302 and Coupon.objects.filter(member=member_a).count() == 1
    again = client.post(
        f"/coupons/{template.pk}/issue/", {"member": member_a.mobile, "idempotency_key": "one"}
    )
    assert again.status_code == 302 and Coupon.objects.filter(member=member_a).count() == 1  # the limit


def test_coupon_pricing_bench_runs_small(db):
    from siyu.tooling.bench import loyalty as loyalty_bench

    got = loyalty_bench.pricing(templates=40, wallet=10, rounds=3)
    assert got["templates"] >= 40 and got["wallet"] == 10 and got["p95_ms"] > 0
    assert got["best_discount_fen"] > 0  # a coupon was applied
    assert got["priced_total_fen"] == got["cart_fen"] - got["best_discount_fen"]
