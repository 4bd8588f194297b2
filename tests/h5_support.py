"""Helpers for the member-facing H5 pages: a signed-in member's client and the mall's cart."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

from siyu.catalog.models import StoreListing
from siyu.members.models import Member
from siyu.members.services.signin import SESSION_KEY

TOMORROW_MORNING = "1:10"  # the checkout form's pickup-window choice: tomorrow, 10:00


def member_client(member: Member, **kwargs: Any) -> Client:
    """A test client signed in as ``member`` (the session made directly; sign-in is tested in test_signin).
    ``kwargs`` go to ``Client`` (e.g. ``HTTP_USER_AGENT``)."""
    client = Client(**kwargs)
    session = client.session
    session[SESSION_KEY] = member.pk
    session.save()
    return client


def add_to_cart(client: Client, listing: StoreListing, qty: int = 1) -> Any:
    return client.post("/h5/mall/cart/add/", {"listing": listing.pk, "quantity": qty})


def cart_key(client: Client) -> str:
    """The idempotency key the cart page put in its checkout form."""
    page = client.get("/h5/mall/cart/").content.decode()
    found = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    assert found
    return found.group(1)
