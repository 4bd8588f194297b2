"""Console order pages and the scan-to-verify page: store scope (another store's order is 404), mark ready,
manual-code pickup (full and partial), refusals shown as messages (never a 500), refund only for online-paid
orders."""

from __future__ import annotations

import pytest
from django.urls import reverse

from siyu.catalog.models import StoreListing
from siyu.catalog.services import stock
from siyu.channels.payments.sandbox import confirm_sandbox_payment
from siyu.orders.models import Order, OrderTransition
from siyu.orders.services import payments, pickup
from tests.factories import StaffFactory, new_key, place_order, two_cups_at


@pytest.fixture
def listings(hq_admin, store_a, store_b):
    """CUP-W (39.00, member 35.00) and CUP-B (20.00) at store A, 10 in stock each (store B lists them too)."""
    return two_cups_at(hq_admin, store_a)


VERIFY = "/pickup/verify/"


def _html(response, status: int = 200) -> str:
    assert response.status_code == status, (response.status_code, response.content[:400])
    return response.content.decode()


@pytest.fixture
def listings_b(listings, hq_admin, store_b):
    rows = list(StoreListing.objects.filter(store=store_b).order_by("sku_id"))
    for row in rows:
        stock.set_stock(hq_admin, row.pk, 10, idempotency_key=new_key())
    return rows


@pytest.fixture
def order_a(member_a, store_a, listings):
    return place_order(member_a, store_a, [(listings[0].pk, 2), (listings[1].pk, 1)])


@pytest.fixture
def order_b(member_b, store_b, listings_b):
    return place_order(member_b, store_b, [(listings_b[0].pk, 1)])


def test_urls():
    assert reverse("console:pickup_verify") == VERIFY


def test_list_shows_only_my_stores(client, clerk_a, hq_admin, order_a, order_b):
    client.force_login(clerk_a)
    html = _html(client.get(reverse("console:orders")))
    detail_a = reverse("console:order_detail", args=[order_a.pk])
    detail_b = reverse("console:order_detail", args=[order_b.pk])
    assert detail_a in html and detail_b not in html
    assert order_a.member.mobile not in html  # masked
    assert order_a.member.mobile[-4:] in html
    assert "¥" in html
    client.force_login(hq_admin)
    html = _html(client.get(reverse("console:orders")))
    assert detail_a in html and detail_b in html
    html = _html(
        client.get(reverse("console:orders"), {"store": order_b.store_id, "status": "pending_payment"})
    )
    assert detail_a not in html and detail_b in html
    html = _html(client.get(reverse("console:orders"), {"status": "picked_up"}))
    assert detail_a not in html and detail_b not in html
    # junk filters: a message page, not a 500
    _html(client.get(reverse("console:orders"), {"status": "nope"}), 400)
    _html(client.get(reverse("console:orders"), {"from": "2024-13-40"}), 400)
    _html(client.get(reverse("console:orders"), {"store": "x"}), 400)


def test_detail_of_other_store_is_404(client, clerk_a, order_a, order_b):
    client.force_login(clerk_a)
    html = _html(client.get(reverse("console:order_detail", args=[order_a.pk])))
    assert "陶瓷杯" in html
    _html(client.get(reverse("console:order_detail", args=[order_b.pk])), 404)
    _html(client.post(reverse("console:order_ready", args=[order_b.pk])), 404)


def test_mark_ready(client, sandbox, clerk_a, member_a, store_a, listings):
    order = place_order(member_a, store_a, [(listings[0].pk, 1)])
    payments.start_payment(order, notify_url="https://example.invalid/")
    payments.apply_payment_notice(confirm_sandbox_payment(order.out_trade_no))
    client.force_login(clerk_a)
    url = reverse("console:order_detail", args=[order.pk])
    html = _html(client.get(url))
    assert reverse("console:order_ready", args=[order.pk]) in html
    response = client.post(reverse("console:order_ready", args=[order.pk]))
    assert response.status_code == 302 and response["Location"] == url
    order.refresh_from_db()
    assert order.status == "ready"
    assert OrderTransition.objects.filter(order=order, to_status="ready", actor=clerk_a).exists()
    html = _html(client.get(url))
    assert reverse("console:order_ready", args=[order.pk]) not in html
    # a second attempt is refused with a message, not an error page
    response = client.post(reverse("console:order_ready", args=[order.pk]), HTTP_REFERER=url, follow=True)
    assert "flash-error" in _html(response)


def test_refund_button_only_for_online_paid(client, sandbox, clerk_a, member_a, store_a, listings, settings):
    settings.SIYU_PAYMENT_PROVIDER = ""
    at_counter = place_order(member_a, store_a, [(listings[0].pk, 1)])
    settings.SIYU_PAYMENT_PROVIDER = "sandbox"
    online = place_order(member_a, store_a, [(listings[0].pk, 1)])
    payments.start_payment(online, notify_url="https://example.invalid/")
    payments.apply_payment_notice(confirm_sandbox_payment(online.out_trade_no))
    assert not at_counter.paid_online and online.paid_online
    client.force_login(clerk_a)
    html = _html(client.get(reverse("console:order_detail", args=[at_counter.pk])))
    assert reverse("console:order_refund", args=[at_counter.pk]) not in html
    html = _html(client.get(reverse("console:order_detail", args=[online.pk])))
    assert reverse("console:order_refund", args=[online.pk]) in html
    response = client.post(reverse("console:order_refund", args=[online.pk]), {"reason": "changed mind"})
    assert response.status_code == 302
    online.refresh_from_db()
    assert online.status == "refunded"


def test_cancel_unpaid(client, clerk_a, member_a, store_a, listings, settings):
    settings.SIYU_PAYMENT_PROVIDER = "sandbox"
    order = place_order(member_a, store_a, [(listings[0].pk, 1)])
    client.force_login(clerk_a)
    html = _html(client.get(reverse("console:order_detail", args=[order.pk])))
    assert reverse("console:order_cancel", args=[order.pk]) in html
    client.post(reverse("console:order_cancel", args=[order.pk]), {"reason": "no show"})
    order.refresh_from_db()
    assert order.status == "cancelled"


def test_pickup_page_renders(client, clerk_a):
    client.force_login(clerk_a)
    html = _html(client.get(reverse("console:pickup")))
    assert "vendor/jsqr/jsQR.js" in html and "console/pickup.js" in html
    assert 'name="code"' in html and VERIFY in html


def test_verify_full_then_second_is_refused(client, clerk_a, order_a):
    code = pickup.pickup_code_for(order_a)
    client.force_login(clerk_a)
    html = _html(client.post(VERIFY, {"code": code}, HTTP_X_REQUESTED_WITH="fetch"))
    assert 'data-pickup-step="confirm"' in html and "<html" not in html
    lines = list(order_a.lines.order_by("id"))
    for line in lines:
        assert f'name="qty-{line.pk}"' in html
    order_a.refresh_from_db()
    assert order_a.status == "pending_payment"  # nothing handed over before the confirmation
    data = {"code": code, "confirm": "1"} | {f"qty-{line.pk}": str(line.quantity) for line in lines}
    html = _html(client.post(VERIFY, data, HTTP_X_REQUESTED_WITH="fetch"))
    assert 'data-pickup-step="done"' in html
    order_a.refresh_from_db()
    assert order_a.status == "picked_up"
    # scanning the spent code again: a clear refusal, on the preview and on a forced confirmation
    html = _html(client.post(VERIFY, {"code": code}, HTTP_X_REQUESTED_WITH="fetch"), 400)
    assert 'data-pickup-step="refused"' in html and "already used" in html
    html = _html(client.post(VERIFY, data, HTTP_X_REQUESTED_WITH="fetch"), 400)
    assert 'data-pickup-step="refused"' in html


def test_verify_partial_without_js(client, clerk_a, order_a):
    code = pickup.pickup_code_for(order_a)
    first, second = list(order_a.lines.order_by("id"))
    client.force_login(clerk_a)
    html = _html(client.post(VERIFY, {"code": code}))  # plain form post: the whole page
    assert "<html" in html and 'data-pickup-step="confirm"' in html
    html = _html(
        client.post(VERIFY, {"code": code, "confirm": "1", f"qty-{first.pk}": "1", f"qty-{second.pk}": "0"})
    )
    assert "Partly picked up" in html
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.picked_quantity, second.picked_quantity) == (1, 0)
    order_a.refresh_from_db()
    assert order_a.status == "paid"  # paid at the counter on the first handover
    html = _html(client.post(VERIFY, {"code": code}))
    assert "(1 already picked up)" in html
    too_many = {"code": code, "confirm": "1", f"qty-{first.pk}": "5"}
    html = _html(client.post(VERIFY, too_many), 400)
    assert 'data-pickup-step="refused"' in html
    html = _html(
        client.post(VERIFY, {"code": code, "confirm": "1", f"qty-{first.pk}": "1", f"qty-{second.pk}": "1"})
    )
    assert "All items handed over" in html
    order_a.refresh_from_db()
    assert order_a.status == "picked_up"


@pytest.mark.parametrize("code", ["", "junk", "x" * 5000, "abc:def", "<script>", "0:0:0"])
def test_junk_code_is_a_message(client, clerk_a, code):
    client.force_login(clerk_a)
    html = _html(client.post(VERIFY, {"code": code}, HTTP_X_REQUESTED_WITH="fetch"), 404)
    assert 'data-pickup-step="refused"' in html
    html = _html(client.post(VERIFY, {"code": code, "confirm": "1", "qty-1": "x"}), 404)
    assert "<script>" not in html.split("<main", 1)[1]


def test_other_store_code_looks_absent(client, brand, store_b, order_a):
    code = pickup.pickup_code_for(order_a)
    clerk_b = StaffFactory(brand=brand, username="clerkb", role="clerk", stores=[store_b])
    client.force_login(clerk_b)
    html = _html(client.post(VERIFY, {"code": code}, HTTP_X_REQUESTED_WITH="fetch"), 404)
    assert 'data-pickup-step="refused"' in html
    assert Order.objects.get(pk=order_a.pk).status == "pending_payment"


def test_pages_need_sign_in(client, db):
    for url in (reverse("console:orders"), reverse("console:pickup")):
        assert client.get(url).status_code == 302
    assert client.post(VERIFY, {"code": "x"}).status_code == 302
