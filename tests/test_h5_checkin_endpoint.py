"""One check-in endpoint: ``/h5/points/checkin/`` answers the page's form with the page and a script
(``Accept: application/json``, as ``siyu bench loyalty``) with JSON; the old ``/h5/checkin/`` is gone."""

from __future__ import annotations

from django.test import Client

from siyu.loyalty.models import CheckIn
from tests.factories import make_rule
from tests.h5_support import member_client

URL = "/h5/points/checkin/"
JSON = {"HTTP_ACCEPT": "application/json"}


def test_json_check_in_once_a_day(brand, member_a):
    make_rule(brand, points=5)
    client = member_client(member_a)
    first = client.post(URL, **JSON)
    assert first.status_code == 200 and first["Content-Type"].startswith("application/json")
    body = first.json()
    assert body["created"] is True and body["points"] == 5 and body["streak"] == 1 and body["balance"] == 5
    again = client.post(URL, **JSON).json()
    assert again["created"] is False and again["balance"] == 5
    assert CheckIn.objects.filter(member=member_a).count() == 1


def test_json_errors_are_json(brand, member_a):
    client = member_client(member_a)
    closed = client.post(URL, **JSON)  # no check-in rule
    assert closed.status_code == 404 and set(closed.json()) == {"code", "message", "field"}
    make_rule(brand, points=5)  # no make-up cost: make-up is refused with a 4xx
    refused = client.post(URL, {"action": "makeup", "day": "junk"}, **JSON)
    assert 400 <= refused.status_code < 500 and set(refused.json()) == {"code", "message", "field"}


def test_signed_out_json_is_401_and_the_page_redirects(db):
    client = Client()
    assert client.post(URL, **JSON).status_code == 401
    assert "/h5/login/" in client.post(URL)["Location"]


def test_form_post_returns_to_the_page_and_the_old_url_is_gone(brand, member_a):
    make_rule(brand, points=5)
    client = member_client(member_a)
    response = client.post(URL, {"action": "checkin"})
    assert response.status_code == 302 and response["Location"].endswith(URL)
    assert client.post("/h5/checkin/", **JSON).status_code == 404
