"""The flash-sale purchase endpoints: tickets, the Django view and the WSGI fast path give the same answers,
bad input is a clear 4xx that changes nothing, and the member's page can follow the order being written."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from siyu.campaigns import tickets
from siyu.campaigns.models import FlashReservation
from siyu.campaigns.services import flash_admission
from siyu.h5 import flash_buy as buy
from siyu.members.services.signin import SESSION_KEY
from siyu.orders.models import Order
from tests.factories import make_sale, settle

pytestmark = pytest.mark.usefixtures("flash_caches")


@pytest.fixture(autouse=True)
def _no_status_cache():
    flash_admission._status_cache.clear()
    yield
    flash_admission._status_cache.clear()


def _body(item, store, key="k-1", quantity=1) -> bytes:
    return json.dumps({"item": item.pk, "quantity": quantity, "store": store.pk, "key": key}).encode()


def _post(client, campaign, body: bytes | str, ticket: str | None) -> Any:
    headers = {"HTTP_X_SIYU_TICKET": ticket} if ticket else {}
    return client.post(f"/h5/flash/{campaign.pk}/buy/", data=body, content_type="application/json", **headers)


def _fast(campaign_id: int, body: bytes, ticket: str | None, method: str = "POST") -> tuple[str, dict]:
    """Call the WSGI fast path the way gunicorn does."""
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    def django_app(environ, start_response_):
        start_response_("418 Passed On", [])
        return [b"{}"]

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": f"/h5/flash/{campaign_id}/buy/",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    if ticket:
        environ["HTTP_X_SIYU_TICKET"] = ticket
    out = b"".join(buy.fast_path(django_app)(environ, start_response))
    return seen["status"], json.loads(out)


# --- tickets -----------------------------------------------------------------------------------------


def test_ticket_round_trip_and_refusals():
    value = tickets.issue_ticket(42, 7, now=1_000_000)
    assert tickets.read_ticket(value, 7, now=1_000_001).member_id == 42
    assert tickets.read_ticket(value, 8, now=1_000_001) is None  # another sale
    assert tickets.read_ticket(value, 7, now=1_000_000 + tickets.TICKET_TTL_SECONDS + 1) is None
    _member, campaign, expires, sig = value.split(".")
    assert tickets.read_ticket(f"43.{campaign}.{expires}.{sig}", 7, now=1_000_001) is None  # forged
    for junk in ("", "x", "1.2.3", "a.b.c.d", "1.7.9999999999." + "0" * 32, "1" * 500):
        assert tickets.read_ticket(junk, 7, now=1_000_001) is None


# --- the view and the fast path ------------------------------------------------------------------------


def test_buy_then_follow_the_order(backend, client, sku, store_a, member_a):
    campaign, item = make_sale(sku, stock=3, limit=2)
    ticket = tickets.issue_ticket(member_a.pk, campaign.pk)
    response = _post(client, campaign, _body(item, store_a, quantity=2), ticket)
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["status"], data["key"], data["quantity"], data["remaining"]) == ("reserved", "k-1", 2, 1)
    # The member's page polls until the order exists.
    session = client.session
    session[SESSION_KEY] = member_a.pk
    session.save()
    poll = client.get(f"/h5/flash/{campaign.pk}/r/k-1/").json()
    if backend == "redis":
        assert poll == {"status": "pending"}
        settle()
        poll = client.get(f"/h5/flash/{campaign.pk}/r/k-1/").json()
    order = Order.objects.get(campaign_id=campaign.pk)
    assert poll == {"status": "written", "order_id": order.pk, "order_url": f"/h5/orders/{order.pk}/"}
    # A retry of the same purchase answers the same and buys nothing more.
    again = _post(client, campaign, _body(item, store_a, quantity=2), ticket).json()
    assert again["key"] == "k-1" and again["quantity"] == 2
    settle()
    assert FlashReservation.objects.filter(campaign=campaign).count() == 1
    status = client.get(f"/h5/flash/{campaign.pk}/status/").json()
    assert status["running"] is True and status["items"] == [{"id": item.pk, "stock": 3, "remaining": 1}]


def test_fast_path_answers_like_the_view(backend, sku, store_a, member_a, member_b, monkeypatch):
    # As Django's test client does for request_finished: the test's transaction must stay open.
    monkeypatch.setattr(buy, "close_old_connections", lambda: None)
    campaign, item = make_sale(sku, stock=1, limit=1)
    status, data = _fast(campaign.pk, _body(item, store_a), tickets.issue_ticket(member_a.pk, campaign.pk))
    assert status == "200 OK" and data["status"] == "reserved" and data["remaining"] == 0
    status, data = _fast(campaign.pk, _body(item, store_a), tickets.issue_ticket(member_b.pk, campaign.pk))
    assert status == "409 Conflict" and data["code"] == "sold_out" and data["message"]
    # Anything but a POST to the buy URL goes on to Django.
    status, _data = _fast(campaign.pk, b"", None, method="GET")
    assert status == "418 Passed On"
    settle()
    assert Order.objects.filter(campaign_id=campaign.pk).count() == 1


JUNK: list[tuple[bytes, int, str]] = [
    (b"", 400, "body"),
    (b"not json", 400, "body"),
    (b"[1, 2]", 400, "body"),
    (b'{"item": 1, "quantity": 1, "store": 1}', 400, "key"),
    (b'{"item": true, "quantity": 1, "store": 1, "key": "a"}', 400, "item"),
    (b'{"item": "1", "quantity": 1, "store": 1, "key": "a"}', 400, "item"),
    (b'{"item": 1, "quantity": 0, "store": 1, "key": "a"}', 400, "quantity"),
    (b'{"item": 1, "quantity": 1, "store": 99999999999999999999999, "key": "a"}', 400, "store"),
    (b'{"item": 1, "quantity": 1, "store": 1, "key": ""}', 400, "key"),
    (b"{" + b" " * 2000 + b"}", 400, "body"),
]


@pytest.mark.parametrize(("body", "status", "field"), JUNK)
def test_junk_is_refused_and_changes_nothing(database_backend, client, sku, member_a, body, status, field):
    campaign, _item = make_sale(sku, stock=3)
    response = _post(client, campaign, body, tickets.issue_ticket(member_a.pk, campaign.pk))
    assert response.status_code == status, response.content
    assert response.json()["field"] == field
    assert not FlashReservation.objects.exists() and not Order.objects.exists()


def test_without_a_valid_ticket_nothing_is_bought(database_backend, client, sku, store_a, member_a):
    campaign, item = make_sale(sku, stock=3)
    other, _ = make_sale(sku, stock=3, kind="flash_sale", open_it=False)
    for ticket in (None, "junk", tickets.issue_ticket(member_a.pk, other.pk)):
        response = _post(client, campaign, _body(item, store_a), ticket)
        assert response.status_code == 401 and response.json()["field"] == "ticket"
    assert client.get(f"/h5/flash/{campaign.pk}/buy/").status_code == 405
    assert not FlashReservation.objects.exists()


def test_reservation_and_status_endpoints_refuse_strangers(database_backend, client, sku):
    campaign, _item = make_sale(sku, stock=3)
    assert client.get(f"/h5/flash/{campaign.pk}/r/k-1/").status_code == 401
    assert client.get("/h5/flash/999999/status/").status_code == 404
    # An id past the database's integer range is a 404 too, never a 500.
    assert client.get(f"/h5/flash/{2**63}/status/").status_code == 404
    draft, _ = make_sale(sku, status="draft", open_it=False)
    assert client.get(f"/h5/flash/{draft.pk}/status/").status_code == 404
