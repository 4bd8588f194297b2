"""Flash-sale admission on both backends: what an admission writes, idempotent retries, every refusal
changing nothing, and units going back exactly once (cancel, expiry, a second release).

Redis-backend tests use a real Redis (tests/redis_support.py says which) with a
key prefix of their own, removed afterwards; they skip when Redis is unreachable. The builders come from
tests/factories (``make_sale``, ``admit``, ``settle``), the fixtures (``backend``, ``sku``) from
tests/flash_support.py.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from siyu.analytics.models import Event
from siyu.campaigns.models import Campaign, FlashQuota, FlashReservation, FlashSaleItem
from siyu.campaigns.services import flash_admission, flash_config, flash_release, flash_writer
from siyu.campaigns.services.flash_admission import (
    LimitReached,
    NotEnoughLeft,
    SaleNotRunning,
    SoldOut,
)
from siyu.catalog.models import Sku, StoreListing
from siyu.catalog.services import products as product_services
from siyu.catalog.services import publication
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.orders.models import Order, PickupCode
from siyu.orders.services import transitions
from siyu.org.models import Store
from tests.factories import BrandFactory, MemberFactory, StoreFactory, admit, make_sale, settle
from tests.redis_support import REDIS_URL

pytestmark = pytest.mark.usefixtures("flash_caches")


def snapshot(campaign: Campaign) -> dict[str, Any]:
    """Everything an admission may change, to compare before and after a refusal."""
    state: dict[str, Any] = {
        "reservations": FlashReservation.objects.filter(campaign=campaign).count(),
        "orders": Order.objects.filter(campaign_id=campaign.pk).count(),
        "sold": list(FlashSaleItem.objects.filter(campaign=campaign).values_list("sold", flat=True)),
        "quotas": list(FlashQuota.objects.filter(item__campaign=campaign).values_list("taken", flat=True)),
        "remaining": flash_admission.remaining_units(campaign.pk),
    }
    if campaign.admission_backend == "redis":
        keys = flash_config.Keys(campaign.pk)
        client = flash_config.redis_client()
        state["stream"] = client.xlen(keys.stream)
        state["taken"] = {i: client.hgetall(keys.taken(i)) for i in state["remaining"]}
    return state


def order_of(admission: flash_admission.Admission, campaign: Campaign) -> Order:
    return (
        FlashReservation.objects.select_related("order")
        .get(campaign=campaign, client_key=admission.key)
        .order
    )


# --- what an admission writes -----------------------------------------------------------------------


def test_admission_writes_reservation_and_order(backend, sku, store_a, member_a):
    campaign, item = make_sale(sku, stock=5, limit=2, price_fen=990)
    assert campaign.admission_backend == backend
    admission = admit(campaign, item, member_a, store_a, quantity=2, key="k-1")
    assert (admission.key, admission.item_id, admission.quantity, admission.remaining) == (
        "k-1",
        item.pk,
        2,
        3,
    )
    assert admission.backend == backend
    if backend == "redis":
        assert admission.order_id is None
        assert flash_admission.written_order_id(campaign.pk, member_a.pk, "k-1") is None
        assert not FlashReservation.objects.exists()  # written behind
        assert settle() == 1
    reservation = FlashReservation.objects.get(campaign=campaign)
    order = reservation.order
    assert order is not None
    assert flash_admission.written_order_id(campaign.pk, member_a.pk, "k-1") == order.pk
    if backend == "database":
        assert admission.order_id == order.pk
    assert (reservation.member_id, reservation.store_id, reservation.quantity) == (member_a.pk, store_a.pk, 2)
    assert reservation.status == "active" and reservation.client_key == "k-1"
    assert (reservation.stream_id is None) == (backend == "database")
    assert order.source == "flash_sale" and order.campaign_id == campaign.pk and order.community_id is None
    assert order.status == "pending_payment" and order.payment_method == "pay_at_pickup"
    assert order.total_fen == 2 * 990 and order.store_id == store_a.pk and order.member_id == member_a.pk
    assert order.pickup_window_start == reservation.admitted_at
    assert order.pickup_window_end == campaign.pickup_until == order.expires_at
    line = order.lines.get()
    assert (line.sku_id, line.quantity, line.unit_price_fen) == (sku.pk, 2, 990)
    assert line.listing.store_id == store_a.pk and line.listing.sku_id == sku.pk
    assert PickupCode.objects.filter(order=order).exists()
    item.refresh_from_db()
    assert item.sold == 2
    assert FlashQuota.objects.get(item=item, member=member_a).taken == 2
    assert flash_admission.remaining_units(campaign.pk) == {item.pk: 3}
    event = Event.objects.get(type="order.created", payload__order_id=order.pk)
    assert event.payload["campaign_id"] == campaign.pk and event.member_id == member_a.pk
    assert flash_writer.reconcile(campaign.pk)["ok"]


def test_listing_stock_is_not_touched(backend, sku, store_a, member_a):
    listing = StoreListing.objects.get(store=store_a, sku=sku)
    StoreListing.objects.filter(pk=listing.pk).update(stock=7)
    campaign, item = make_sale(sku)
    admit(campaign, item, member_a, store_a)
    settle()
    assert StoreListing.objects.get(pk=listing.pk).stock == 7
    assert FlashReservation.objects.get().order.lines.get().listing_id == listing.pk


def test_missing_listing_is_created_unlisted(backend, sku, brand, hq_admin, member_a):
    store_c = StoreFactory(brand=brand, code="C001")  # opened after the publication: no listing yet
    assert not StoreListing.objects.filter(store=store_c, sku=sku).exists()
    campaign, item = make_sale(sku)
    admit(campaign, item, member_a, store_c)
    settle()
    listing = StoreListing.objects.get(store=store_c, sku=sku)
    assert (listing.listed, listing.stock) == (False, 0)
    assert FlashReservation.objects.get().order.lines.get().listing_id == listing.pk


def test_online_payment_expires_after_payment_timeout(backend, settings, sku, store_a, member_a):
    settings.SIYU_PAYMENT_PROVIDER = "sandbox"
    campaign, item = make_sale(sku)
    now = timezone.now()
    admission = admit(campaign, item, member_a, store_a, now=now)
    settle()
    order = order_of(admission, campaign)
    assert order.payment_method == "sandbox"
    assert order.expires_at == now + timedelta(minutes=15)
    assert not PickupCode.objects.filter(order=order).exists()


def test_long_keys_get_distinct_orders(backend, sku, store_a, member_a):
    campaign, item = make_sale(sku)
    base = "x" * 95
    admit(campaign, item, member_a, store_a, key=base + "AAAAA")
    admit(campaign, item, member_a, store_a, key=base + "BBBBB")
    settle()
    keys = set(Order.objects.filter(campaign_id=campaign.pk).values_list("idempotency_key", flat=True))
    assert len(keys) == 2 and all(len(k) <= 100 for k in keys)


# --- idempotency --------------------------------------------------------------------------------------


def test_same_key_answers_the_same_admission(backend, sku, store_a, member_a):
    campaign, item = make_sale(sku, stock=5, limit=2)
    first = admit(campaign, item, member_a, store_a, key="again")
    second = admit(campaign, item, member_a, store_a, key="again")
    assert second == first
    # A retry asking for something else with the same key is refused (409) and takes nothing.
    with pytest.raises(Conflict) as refused:
        admit(campaign, item, member_a, store_a, quantity=2, key="again")
    assert refused.value.code == "idempotency_mismatch" and refused.value.status == 409
    settle()
    after = admit(campaign, item, member_a, store_a, key="again")
    order = order_of(first, campaign)
    assert after.order_id == order.pk and after.quantity == 1
    assert FlashReservation.objects.count() == 1 and Order.objects.count() == 1
    item.refresh_from_db()
    assert item.sold == 1 and flash_admission.remaining_units(campaign.pk) == {item.pk: 4}


def test_retry_after_the_sale_ended_answers_the_admission(backend, sku, store_a, member_a):
    campaign, item = make_sale(sku)
    first = admit(campaign, item, member_a, store_a, key="late")
    settle()
    later = campaign.ends_at + timedelta(minutes=1)
    again = admit(campaign, item, member_a, store_a, key="late", now=later)
    assert (again.item_id, again.quantity, again.order_id) == (
        first.item_id,
        first.quantity,
        order_of(first, campaign).pk,
    )
    with pytest.raises(SaleNotRunning):
        admit(campaign, item, member_a, store_a, key="new-key", now=later)


# --- refusals change nothing --------------------------------------------------------------------------


def test_refusals_change_nothing(backend, settings, sku, brand, store_a, store_b, member_a, member_b):
    campaign, item = make_sale(sku, stock=3, limit=2, stores=[store_a])
    other_campaign, other_item = make_sale(sku, stock=3)
    admit(campaign, item, member_b, store_a, quantity=2)  # 1 left
    settle()
    before = snapshot(campaign)
    other_brand_member = MemberFactory(brand=BrandFactory(code="other-brand"))
    erased = MemberFactory(brand=brand, erased_at=timezone.now(), mobile=None)
    closed = StoreFactory(brand=brand, status=Store.Status.CLOSED)
    cases: list[tuple[type[Exception], str | None, dict[str, Any]]] = [
        (SaleNotRunning, "not_running", {"now": campaign.starts_at - timedelta(seconds=1)}),
        (SaleNotRunning, "not_running", {"now": campaign.ends_at}),
        (NotEnoughLeft, "not_enough_left", {"quantity": 2}),
        (LimitReached, "limit_reached", {"quantity": 3}),
        (ValidationFailed, "key", {"key": ""}),
        (ValidationFailed, "key", {"key": "x" * 101}),
        (ValidationFailed, "key", {"key": "钥匙"}),
        (ValidationFailed, "key", {"key": "tab\there"}),
        (ValidationFailed, "key", {"key": 42}),
        (ValidationFailed, "quantity", {"quantity": 0}),
        (ValidationFailed, "quantity", {"quantity": True}),
        (NotFound, "item", {"item_id": other_item.pk}),
        (NotFound, "item", {"item_id": "1"}),
        (NotFound, "store", {"store_id": store_b.pk}),  # not one of the sale's stores
        (NotFound, "store", {"store_id": closed.pk}),
        (NotFound, "store", {"store_id": None}),
        (NotFound, "member", {"member_id": other_brand_member.pk}),
        (NotFound, "member", {"member_id": erased.pk}),
        (NotFound, "member", {"member_id": 10**12}),
    ]
    for error, field, overrides in cases:
        args: dict[str, Any] = {
            "item_id": item.pk,
            "member_id": member_a.pk,
            "store_id": store_a.pk,
            "quantity": 1,
            "key": uuid.uuid4().hex,
        }
        args.update(overrides)
        with pytest.raises(error) as raised:
            flash_admission.admit(campaign.pk, **args)
        if isinstance(raised.value, Conflict):
            assert raised.value.code == field, overrides
        else:
            assert raised.value.field == field, overrides  # type: ignore[attr-defined]
        assert snapshot(campaign) == before, overrides
    # Sold out after the last unit; the limit counts what the member already holds.
    admit(campaign, item, member_a, store_a, quantity=1)
    settle()
    after_last = snapshot(campaign)
    with pytest.raises(SoldOut) as raised:
        admit(campaign, item, member_a, store_a)
    assert raised.value.code == "sold_out" and raised.value.status == 409
    assert snapshot(campaign) == after_last
    admit(other_campaign, other_item, member_b, store_a, quantity=2)
    with pytest.raises(LimitReached):
        admit(other_campaign, other_item, member_b, store_a, quantity=1)
    settle()
    assert FlashReservation.objects.filter(campaign=other_campaign).count() == 1
    assert flash_admission.remaining_units(other_campaign.pk) == {other_item.pk: 1}


def test_sale_that_is_not_running(backend, sku, store_a, member_a):
    draft, draft_item = make_sale(sku, status="draft", open_it=False)
    cancelled, cancelled_item = make_sale(sku, status="cancelled")
    group_buy, _ = make_sale(sku, kind="group_buy")
    for campaign, item in ((draft, draft_item), (cancelled, cancelled_item), (group_buy, draft_item)):
        with pytest.raises(SaleNotRunning):
            admit(campaign, item, member_a, store_a)
    with pytest.raises(SaleNotRunning):
        flash_admission.admit(
            10**12, item_id=1, member_id=member_a.pk, store_id=store_a.pk, quantity=1, key="k"
        )
    assert not FlashReservation.objects.exists() and not Order.objects.exists()
    draft.refresh_from_db()
    assert draft.admission_backend == ""  # fixed when it is published, not by a buyer


def test_sale_published_without_open_sale_opens_on_first_purchase(backend, sku, store_a, member_a):
    campaign, item = make_sale(sku, stock=3, open_it=False)
    assert admit(campaign, item, member_a, store_a).remaining == 2
    campaign.refresh_from_db()
    assert campaign.admission_backend == backend
    settle()
    assert flash_writer.reconcile(campaign.pk)["ok"]


def test_store_must_be_open_and_reached_by_a_publication(backend, hq_admin, brand, store_a, member_a):
    product = product_services.create_product(
        hq_admin, {"name": "限定款"}, skus=[{"code": "ONLY-A", "price_fen": 100}]
    )
    publication.publish(hq_admin, product.pk, scope="stores", store_ids=[store_a.pk])
    only_a = Sku.objects.get(code="ONLY-A")
    store_b = StoreFactory(brand=brand)
    campaign, item = make_sale(only_a)  # no stores chosen: every open store of the brand
    with pytest.raises(NotFound) as raised:
        admit(campaign, item, member_a, store_b)  # open, but the product is not published there
    assert raised.value.field == "store"
    assert admit(campaign, item, member_a, store_a).quantity == 1


# --- release: exactly once -------------------------------------------------------------------------------


def test_cancel_returns_units_exactly_once(
    backend, sku, store_a, member_a, django_capture_on_commit_callbacks
):
    campaign, item = make_sale(sku, stock=2, limit=2)
    admission = admit(campaign, item, member_a, store_a, quantity=2)
    settle()
    with pytest.raises(SoldOut):
        admit(campaign, item, member_a, store_a)
    order = order_of(admission, campaign)
    with django_capture_on_commit_callbacks(execute=True):
        transitions.cancel(order.pk, member=member_a)
    with pytest.raises(Conflict), django_capture_on_commit_callbacks(execute=True):
        transitions.cancel(order.pk, member=member_a)
    with django_capture_on_commit_callbacks(execute=True):
        flash_release.release_for_order(order)  # a replay gives nothing back again
    item.refresh_from_db()
    reservation = FlashReservation.objects.get(order=order)
    assert reservation.status == "released" and reservation.released_at is not None
    assert item.sold == 0 and FlashQuota.objects.get(item=item, member=member_a).taken == 0
    assert flash_admission.remaining_units(campaign.pk) == {item.pk: 2}
    assert flash_writer.reconcile(campaign.pk)["ok"]
    # The units are buyable again, up to the limit.
    admit(campaign, item, member_a, store_a, quantity=2)
    settle()
    assert flash_admission.remaining_units(campaign.pk) == {item.pk: 0}


def test_expire_then_cancel_returns_units_once(
    backend, sku, store_a, member_a, django_capture_on_commit_callbacks
):
    campaign, item = make_sale(sku, stock=3)
    admission = admit(campaign, item, member_a, store_a)
    settle()
    order = order_of(admission, campaign)
    with django_capture_on_commit_callbacks(execute=True):
        assert transitions.expire_order(order, order.expires_at + timedelta(seconds=1))
        assert not transitions.expire_order(order, order.expires_at + timedelta(seconds=2))
    with pytest.raises(Conflict), django_capture_on_commit_callbacks(execute=True):
        transitions.cancel(order.pk, member=member_a)
    item.refresh_from_db()
    assert item.sold == 0 and flash_admission.remaining_units(campaign.pk) == {item.pk: 3}
    assert flash_writer.reconcile(campaign.pk)["ok"]


def test_refund_returns_units(
    backend, settings, sku, store_a, member_a, clerk_a, django_capture_on_commit_callbacks
):
    from siyu.channels.payments.sandbox import confirm_sandbox_payment
    from siyu.orders.services import payments

    settings.SIYU_PAYMENT_PROVIDER = "sandbox"
    campaign, item = make_sale(sku, stock=3)
    admission = admit(campaign, item, member_a, store_a)
    settle()
    order = order_of(admission, campaign)
    payments.start_payment(order, notify_url="https://example.invalid/")
    payments.apply_payment_notice(confirm_sandbox_payment(order.out_trade_no))
    order.refresh_from_db()
    assert order.status == "paid"
    with django_capture_on_commit_callbacks(execute=True):
        transitions.refund(clerk_a, order.pk, "customer changed mind")
    item.refresh_from_db()
    assert item.sold == 0 and flash_admission.remaining_units(campaign.pk) == {item.pk: 3}


def test_backend_name(settings):
    settings.REDIS_URL = ""
    assert flash_admission.backend_name() in ("postgresql", "sqlite")
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    assert flash_admission.backend_name() == "redis"


def test_writer_does_nothing_without_redis(database_backend):
    assert flash_writer.drain_all() == 0 and flash_writer.recover(idle_ms=0) == 0


def test_redis_admission_does_not_touch_the_database(
    redis_backend, sku, store_a, member_a, django_assert_num_queries
):
    campaign, item = make_sale(sku, stock=5, limit=2)
    first = admit(campaign, item, member_a, store_a)  # loads the sale's config and the member check
    with django_assert_num_queries(0):
        second = admit(campaign, item, member_a, store_a)
        assert admit(campaign, item, member_a, store_a, key=first.key) == dataclasses.replace(
            first, remaining=3
        )
        with pytest.raises(LimitReached):
            admit(campaign, item, member_a, store_a)
        assert flash_admission.remaining_units(campaign.pk) == {item.pk: 3}
        assert flash_admission.written_order_id(campaign.pk, member_a.pk, second.key) is None


def test_sale_status_is_the_pages_poll(backend, sku, store_a, member_a):
    campaign, item = make_sale(sku, stock=3)
    admit(campaign, item, member_a, store_a, quantity=2, key="k-status")
    settle()
    status = flash_admission.sale_status(campaign.pk)
    assert status["running"] is True
    assert status["items"] == [{"id": item.pk, "stock": 3, "remaining": 1}]
    # Cached a second per process: the next poll does not read the counters again.
    flash_admission._status_cache[campaign.pk] = (time.monotonic(), {"cached": True})
    assert flash_admission.sale_status(campaign.pk) == {"cached": True}
    draft, _ = make_sale(sku, status="draft", open_it=False)
    tuan, _ = make_sale(sku, kind="group_buy", open_it=False)
    for bad in (draft.pk, tuan.pk, 999_999, 2**63, "1", None):
        with pytest.raises(NotFound):
            flash_admission.sale_status(bad)


def test_remaining_units_never_shows_more_than_stock(redis_backend, sku):
    import redis

    campaign, item = make_sale(sku, stock=3)
    redis.Redis.from_url(REDIS_URL).set(flash_config.Keys(campaign.pk).left(item.pk), 7)
    assert flash_admission.remaining_units(campaign.pk) == {item.pk: 3}
