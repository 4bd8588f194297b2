"""Console pages of staff incentives: my rewards (phone), leaderboards, HQ review and approval, statements,
rules; staff of one store never reach another store's statements or board (404)."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from siyu.incentives.models import IncentiveRule, StaffStatement
from siyu.incentives.services import statements
from siyu.incentives.services.months import current_month
from tests.factories import (
    MemberFactory,
    StaffFactory,
    attribute_members,
    attribute_sale,
    closed_month,
    standard_rules,
)


@pytest.fixture
def month():
    return closed_month(2)


@pytest.fixture
def world(brand, store_a, store_b, hq_admin, clerk_a, month):
    standard_rules(hq_admin)
    clerk_b = StaffFactory(brand=brand, username="clerkb", role="clerk", stores=[store_b])
    for when in (month, current_month()):
        members = MemberFactory.create_batch(53, brand=brand, home_store=store_a)
        attribute_members(clerk_a, store_a, members, when)
        attribute_sale(clerk_a, store_a, members[0], 1_234_567, when)
        attribute_members(clerk_b, store_b, [MemberFactory(brand=brand, home_store=store_b)], when)
    statements.generate_month(brand.pk, month)
    return {
        "clerk_b": clerk_b,
        "a": StaffStatement.objects.get(staff=clerk_a),
        "b": StaffStatement.objects.get(staff=clerk_b),
    }


def signed_in(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def test_my_rewards_shows_this_month_in_sentences(clerk_a, world):
    page = signed_in(clerk_a).get("/rewards/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Members brought in, tier 2: 3 × ¥2.00 = ¥6.00" in html
    assert "Attributed sales, tier 1: 1% of ¥12345.67 = ¥123.46" in html
    assert "¥179.46" in html and f'href="/rewards/statements/{world["a"].pk}/"' in html
    fragment = signed_in(clerk_a).get("/rewards/", HTTP_HX_REQUEST="true")
    assert "<html" not in fragment.content.decode() and "¥179.46" in fragment.content.decode()


def test_leaderboards_store_and_chain(hq_admin, clerk_a, store_a, store_b, world):
    store_page = signed_in(clerk_a).get("/rewards/board/")
    assert store_page.status_code == 200 and "¥179.46" in store_page.content.decode()
    assert world["clerk_b"].display_name not in store_page.content.decode()
    assert signed_in(clerk_a).get(f"/rewards/board/?store={store_b.pk}").status_code == 404
    chain = signed_in(hq_admin).get("/rewards/board/?metric=invites").content.decode()
    assert world["clerk_b"].display_name in chain and clerk_a.display_name in chain
    fragment = signed_in(hq_admin).get("/rewards/board/", HTTP_HX_REQUEST="true").content.decode()
    assert "board-table" in fragment and "<html" not in fragment


def test_hq_reviews_and_approves_a_store_and_it_shows_frozen(hq_admin, store_a, world, month):
    hq = signed_in(hq_admin)
    label = f"{month:%Y-%m}"
    queue = hq.get(f"/rewards/review/?month={label}").content.decode()
    assert "朝阳大悦城店" in queue and "西单大悦城店" in queue and "Approve the store" in queue
    store_page = hq.get(f"/rewards/review/stores/{store_a.pk}/?month={label}")
    assert store_page.status_code == 200 and "¥179.46" in store_page.content.decode()
    approved = hq.post(f"/rewards/review/stores/{store_a.pk}/approve/", {"month": label})
    assert approved.status_code == 302
    assert StaffStatement.objects.get(pk=world["a"].pk).frozen
    detail = hq.get(f"/rewards/statements/{world['a'].pk}/").content.decode()
    assert "frozen" in detail and 'id="approve-form"' not in detail
    # Approving again changes nothing; store B's statement is approved on its own page.
    hq.post(f"/rewards/review/stores/{store_a.pk}/approve/", {"month": label})
    hq.post(f"/rewards/statements/{world['b'].pk}/approve/")
    assert set(StaffStatement.objects.values_list("status", flat=True)) == {"approved"}


def test_store_scoping_of_review_pages(clerk_a, manager_a, store_a, store_b, world, month):
    label = f"{month:%Y-%m}"
    manager = signed_in(manager_a)
    assert manager.get(f"/rewards/review/stores/{store_a.pk}/?month={label}").status_code == 200
    assert manager.get(f"/rewards/review/stores/{store_b.pk}/?month={label}").status_code == 404
    assert manager.get(f"/rewards/statements/{world['b'].pk}/").status_code == 404
    assert "西单大悦城店" not in manager.get(f"/rewards/review/?month={label}").content.decode()
    assert manager.post(f"/rewards/statements/{world['a'].pk}/approve/").status_code == 403
    clerk = signed_in(clerk_a)
    assert clerk.get("/rewards/review/").status_code == 403
    assert clerk.get(f"/rewards/statements/{world['b'].pk}/").status_code == 404
    assert clerk.get(f"/rewards/statements/{world['a'].pk}/").status_code == 200


def test_hq_creates_a_rule_with_tiers_from_the_form(hq_admin, db):
    hq = signed_in(hq_admin)
    data = {
        "name": "店长拉新",
        "kind": "invite",
        "valid_from": "2026-01",
        "valid_until": "",
        "key": uuid.uuid4().hex,
        "upto_0": "50",
        "rate_0": "1",
        "upto_1": "",
        "rate_1": "2",
    }
    assert hq.post("/rewards/rules/", data).status_code == 302
    hq.post("/rewards/rules/", data)  # a double submit saves once
    rule = IncentiveRule.objects.get()
    assert [(t.from_units, t.to_units, t.fen_per_unit) for t in rule.tiers.order_by("position")] == [
        (0, 50, 100),
        (50, None, 200),
    ]
    page = hq.get("/rewards/rules/").content.decode()
    assert "members 1 to 50: ¥1.00 each" in page and "from member 51 on: ¥2.00 each" in page
