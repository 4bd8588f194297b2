"""Same member + same key + a different request → 409 ``idempotency_mismatch`` (H5 checkout, the checkout
service, the flash-sale buy on both admission backends); the same request again answers the first."""

from __future__ import annotations

import json

import pytest

from siyu.campaigns import tickets
from siyu.campaigns.models import FlashReservation
from siyu.common.errors import Conflict
from siyu.orders.models import Order
from tests.factories import make_sale, mall_listings, place_order, settle, stock_of, two_cups_at
from tests.h5_support import TOMORROW_MORNING, add_to_cart, cart_key, member_client

pytestmark = pytest.mark.usefixtures("flash_caches")


@pytest.fixture
def listings(hq_admin, store_a, store_b):
    return two_cups_at(hq_admin, store_a)  # published while store B exists: B has listings too


def test_checkout_same_key_other_cart_or_store_is_409(member_a, store_a, store_b, listings):
    first = place_order(member_a, store_a, [(listings[0].pk, 1)], k="same-key")
    again = place_order(member_a, store_a, [(listings[0].pk, 1)], k="same-key")
    assert again.pk == first.pk and first.request_hash
    for store, items in ((store_a, [(listings[0].pk, 2)]), (store_a, [(listings[1].pk, 1)]), (store_b, [])):
        with pytest.raises(Conflict) as caught:
            place_order(member_a, store, items or [(listings[0].pk, 1)], k="same-key")
        assert caught.value.code == "idempotency_mismatch" and caught.value.status == 409
        assert caught.value.field == "idempotency_key"
    assert Order.objects.filter(member=member_a).count() == 1
    assert stock_of(listings[0]) == 9


def test_h5_checkout_same_key_other_cart_is_409(member_a, hq_admin, store_a, store_b):
    rows = mall_listings(hq_admin, store_a, store_b)
    client = member_client(member_a)
    add_to_cart(client, rows["CUP-W"])
    form = {"idempotency_key": cart_key(client), "pickup_window": TOMORROW_MORNING}
    first = client.post("/h5/mall/checkout/", form)
    assert first.status_code == 302 and first.url.startswith("/h5/orders/")
    # The same form key with another cart: refused, said so, nothing placed.
    add_to_cart(client, rows["CUP-B"], 2)
    refused = client.post("/h5/mall/checkout/", form)
    assert refused.status_code == 409
    assert "already used for a different request" in refused.content.decode()
    assert Order.objects.filter(member=member_a).count() == 1


def _buy(client, campaign, item, store, quantity, ticket, key="k-1"):
    body = json.dumps({"item": item.pk, "quantity": quantity, "store": store.pk, "key": key})
    return client.post(
        f"/h5/flash/{campaign.pk}/buy/", data=body, content_type="application/json", HTTP_X_SIYU_TICKET=ticket
    )


def test_flash_buy_same_key_other_quantity_or_store_is_409(backend, client, sku, store_a, store_b, member_a):
    campaign, item = make_sale(sku, stock=5, limit=3, stores=[store_a, store_b])
    ticket = tickets.issue_ticket(member_a.pk, campaign.pk)
    assert _buy(client, campaign, item, store_a, 1, ticket).status_code == 200
    more = _buy(client, campaign, item, store_a, 2, ticket)
    assert more.status_code == 409 and more.json()["code"] == "idempotency_mismatch"
    elsewhere = _buy(client, campaign, item, store_b, 1, ticket)
    assert elsewhere.status_code == 409 and elsewhere.json()["code"] == "idempotency_mismatch"
    same = _buy(client, campaign, item, store_a, 1, ticket)
    assert same.status_code == 200 and same.json()["quantity"] == 1
    settle()
    # Retried after the write too: still refused, still one reservation of one unit.
    assert _buy(client, campaign, item, store_a, 3, ticket).status_code == 409
    assert [r.quantity for r in FlashReservation.objects.filter(campaign=campaign)] == [1]
    item.refresh_from_db()
    assert item.sold == 1
