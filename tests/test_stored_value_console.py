"""Console pages for stored value: tiers and policy (HQ), the counter recharge with preview and receipt, gifts
handed over once, a member's statement and cash refund, reports — and store scoping (ADR 0002)."""

from __future__ import annotations

import re

import pytest

from siyu.loyalty.models import RechargeGift, RechargeRule, StoredValueEntry, StoredValuePolicy
from siyu.loyalty.services import stored_value as sv
from siyu.org.models import AuditEntry
from tests.factories import StaffFactory, recharge_rule, sv_recharge

pytestmark = pytest.mark.django_db


def _key(html: str) -> str:
    match = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def test_hq_sets_up_a_tier_and_the_policy(client, hq_admin, store_a):
    client.force_login(hq_admin)
    assert client.get("/stored-value/").status_code == 200
    response = client.post(
        "/stored-value/tiers/new/",
        {
            "name": "充三千",
            "threshold": "3000",
            "bonus": "0",
            "gift": "空气净化器",
            "active": "on",
            "stores": [store_a.pk],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = RechargeRule.objects.get()
    assert (rule.threshold_fen, rule.gift, [s.pk for s in rule.stores.all()]) == (
        300_000,
        "空气净化器",
        [store_a.pk],
    )
    response = client.post(
        f"/stored-value/tiers/{rule.pk}/", {"name": "充三千", "threshold": "3000", "bonus": "", "gift": ""}
    )
    assert (
        response.status_code == 200 and "A tier gives a bonus, a gift, or both." in response.content.decode()
    )
    client.post(
        "/stored-value/policy/",
        {
            "cap": "3000",
            "bonus_spend": "proportional",
            "bonus_expiry_days": "90",
            "custody": "1000",
            "custody_percent": "40",
        },
    )
    policy = StoredValuePolicy.objects.get()
    assert (policy.cap_fen, policy.bonus_spend, policy.forfeit_bonus_on_refund) == (
        300_000,
        "proportional",
        False,
    )
    assert AuditEntry.objects.filter(action__startswith="stored_value.").count() == 2


def test_clerk_cannot_change_tiers(client, clerk_a):
    client.force_login(clerk_a)
    assert client.get("/stored-value/tiers/new/").status_code == 403
    assert client.get("/stored-value/").status_code == 200


def test_counter_recharge_preview_confirm_receipt_once(client, clerk_a, member_a, store_a):
    recharge_rule(member_a.brand, 100_000, bonus_fen=10_000)
    recharge_rule(member_a.brand, 300_000, gift="空气净化器")
    client.force_login(clerk_a)
    page = client.get("/stored-value/counter/", {"q": member_a.mobile})
    assert page.status_code == 200 and "sv-amount-form" in page.content.decode()
    preview = client.post(
        "/stored-value/counter/", {"q": member_a.mobile, "step": "preview", "amount": "3000"}
    )
    html = preview.content.decode()
    assert "空气净化器" in html and "sv-confirm-form" in html
    assert not StoredValueEntry.objects.exists()
    confirm = {
        "q": member_a.mobile,
        "step": "confirm",
        "amount": "3000.00",
        "store": store_a.pk,
        "idempotency_key": _key(html),
    }
    done = client.post("/stored-value/counter/", confirm)
    assert done.status_code == 200 and "sv-receipt" in done.content.decode()
    client.post("/stored-value/counter/", confirm)  # a double tap
    assert sv.balance_of(member_a) == sv.SvBalance(300_000, 0)
    gift = RechargeGift.objects.get()
    assert gift.status == "pending" and gift.store == store_a
    assert AuditEntry.objects.filter(action="stored_value.recharge").count() == 1
    # The gift is handed over once.
    client.post(f"/stored-value/gifts/{gift.pk}/hand-over/", {"q": member_a.mobile})
    again = client.post(f"/stored-value/gifts/{gift.pk}/hand-over/", {"q": member_a.mobile}, follow=True)
    assert "already handed over" in again.content.decode()
    gift.refresh_from_db()
    assert gift.status == "handed_over" and gift.handed_over_by == clerk_a
    assert AuditEntry.objects.filter(action="stored_value.gift").count() == 1


def test_counter_shows_the_cap_refusal_before_confirming(client, clerk_a, member_a):
    sv_recharge(member_a, 450_000)
    client.force_login(clerk_a)
    response = client.post(
        "/stored-value/counter/", {"q": member_a.mobile, "step": "preview", "amount": "600"}
    )
    html = response.content.decode()
    assert "sv-cap-refusal" in html and "sv-confirm-form" not in html


def test_counter_and_member_pages_are_store_scoped(client, brand, member_a, member_b, store_b):
    sv_recharge(member_b, 10_000, store=store_b)
    gift_rule = recharge_rule(brand, 5_000, gift="围巾")
    sv_recharge(member_b, 5_000, store=store_b)
    gift = RechargeGift.objects.get(rule=gift_rule)
    clerk = StaffFactory(brand=brand, username="clerk-a2", role="clerk", stores=[member_a.home_store])
    manager = StaffFactory(brand=brand, username="mgr-a2", role="store_manager", stores=[member_a.home_store])
    client.force_login(clerk)
    assert client.get("/stored-value/counter/", {"q": member_b.mobile}).status_code == 404
    assert client.get("/stored-value/counter/", {"q": str(member_b.pk)}).status_code == 404
    assert client.get(f"/members/{member_b.pk}/stored-value/").status_code == 404
    assert client.post(f"/stored-value/gifts/{gift.pk}/hand-over/").status_code == 404
    confirm = {
        "q": member_a.mobile,
        "step": "confirm",
        "amount": "10",
        "store": store_b.pk,
        "idempotency_key": "k1",
    }
    client.post("/stored-value/counter/", confirm)
    assert not StoredValueEntry.objects.filter(account__member=member_a).exists()
    client.force_login(manager)
    assert (
        client.post(
            f"/members/{member_b.pk}/stored-value/refund/", {"amount": "1", "reason": "x", "key": "k"}
        ).status_code
        == 404
    )
    gift.refresh_from_db()
    assert gift.status == "pending"
    assert sv.balance_of(member_b).principal_fen == 15_000


def test_member_statement_and_cash_refund_by_a_manager(client, manager_a, clerk_a, member_a):
    recharge_rule(member_a.brand, 10_000, bonus_fen=1_000)
    sv_recharge(member_a, 10_000)
    client.force_login(clerk_a)
    page = client.get(f"/members/{member_a.pk}/stored-value/")
    assert page.status_code == 200 and "sv-refund-form" not in page.content.decode()
    assert (
        client.post(
            f"/members/{member_a.pk}/stored-value/refund/", {"amount": "1", "reason": "x", "key": "k"}
        ).status_code
        == 403
    )
    client.force_login(manager_a)
    response = client.post(
        f"/members/{member_a.pk}/stored-value/refund/",
        {"amount": "50", "reason": "退卡", "key": "k1"},
        follow=True,
    )
    assert "¥5.00 of bonus forfeited" in response.content.decode()
    assert sv.balance_of(member_a) == sv.SvBalance(5_000, 500)
    assert AuditEntry.objects.filter(action="stored_value.refund_principal").count() == 1


def test_reports_per_store_and_quarter(client, hq_admin, manager_a, member_a, member_b, store_b):
    sv_recharge(member_a, 20_000)
    sv_recharge(member_b, 30_000, store=store_b)
    client.force_login(hq_admin)
    html = client.get("/stored-value/reports/").content.decode()
    assert "¥500.00" in html and 'id="sv-q-cards">2<' in html
    client.force_login(manager_a)
    html = client.get("/stored-value/reports/").content.decode()
    assert 'id="sv-out-principal">¥200.00<' in html and 'id="sv-q-cards">1<' in html
    assert client.get("/stored-value/reports/", {"period": "2026-9"}).status_code == 400
    assert client.get("/stored-value/reports/", {"period": "junk"}).status_code == 200
