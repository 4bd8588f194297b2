"""Fixtures shared by the group-buy tests (registered as a pytest plugin in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.factories import MemberFactory, candle_sku, in_group, published_group_buy


@pytest.fixture
def candle(hq_admin, store_a, store_b):
    """A candle SKU (price 69.00, member price 65.00) published everywhere, 10 in stock at stores A and B."""
    return candle_sku(hq_admin)


@pytest.fixture
def offer(hq_admin, candle, group_a):
    """A published, running group buy of the candle at 49.00 (3 to 5 people) offered in group A."""
    return published_group_buy(hq_admin, candle, communities=[group_a.pk])


@pytest.fixture
def people(brand, store_a, group_a):
    """Six members of store A, all in group A; the first is named 王小明."""
    first = MemberFactory(brand=brand, home_store=store_a, name="王小明", mobile="13812340001")
    others = [MemberFactory(brand=brand, home_store=store_a, name=f"李{i}") for i in range(5)]
    return [in_group(m, group_a) for m in [first, *others]]
