"""H5 我的余额: principal and bonus apart, gifts to collect, tiers with their bonus, the statement."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import recharge_rule, sv_recharge
from tests.h5_support import member_client

pytestmark = pytest.mark.django_db


def test_balance_page_shows_principal_and_bonus_apart(member_a, member_b):
    recharge_rule(member_a.brand, 100_000, bonus_fen=10_000)
    recharge_rule(member_a.brand, 300_000, gift="空气净化器")
    sv_recharge(member_a, 300_000)
    sv_recharge(member_b, 1_000)
    html = member_client(member_a).get("/h5/balance/").content.decode()
    assert "Principal ¥3000.00" in html and "Bonus ¥0.00" in html
    assert "空气净化器" in html and "bonus ¥100.00" in html
    assert 'data-testid="balance-statement"' in html
    assert "¥10.00" not in html  # nobody else's balance


def test_balance_page_needs_sign_in(db):
    response = Client().get("/h5/balance/")
    assert response.status_code == 302 and "/h5/login/" in response["Location"]
