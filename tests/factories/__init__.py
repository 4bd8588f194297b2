"""Builders for test data, one module per app; import them from here (``from tests.factories import ...``).

Plain rows come from factory_boy factories; anything with rules (products, listings with stock, orders,
campaigns, groups opened from templates, joins, posts, events) is built through the app's own services, so
the objects are valid. Test modules never import each other: a helper two test modules need belongs here
(or, for fixtures, in a support plugin listed in tests/conftest.py).
"""

from tests.factories.analytics import make_event
from tests.factories.campaigns import (
    GROUP_BUY_PRICE,
    admit,
    buy,
    make_sale,
    offer_data,
    published_group_buy,
    running_sale,
    sale_data,
    settle,
)
from tests.factories.catalog import (
    candle_sku,
    flash_cup_sku,
    listing_for,
    make_product,
    mall_listings,
    new_key,
    sale_skus,
    set_stock,
    stock_of,
    two_cups_at,
)
from tests.factories.channels import ConnectorFactory
from tests.factories.communities import in_group, join, make_group, make_template, open_web_group, post
from tests.factories.incentives import (
    attribute_members,
    attribute_refund,
    attribute_sale,
    closed_month,
    standard_rules,
)
from tests.factories.loyalty import (
    credit_points,
    drop_packet,
    give_budget,
    give_coupon,
    give_points,
    make_coupon_template,
    make_kol,
    make_rule,
    mall_product_item,
    purchase_rule,
    three_tiers,
    window_days,
)
from tests.factories.members import MemberFactory, TagFactory, TagGroupFactory
from tests.factories.orders import picked_up_order, pickup_window, place_order
from tests.factories.org import TEST_PASSWORD, BrandFactory, RegionFactory, StaffFactory, StoreFactory

__all__ = [
    "GROUP_BUY_PRICE",
    "TEST_PASSWORD",
    "BrandFactory",
    "ConnectorFactory",
    "MemberFactory",
    "RegionFactory",
    "StaffFactory",
    "StoreFactory",
    "TagFactory",
    "TagGroupFactory",
    "admit",
    "attribute_members",
    "attribute_refund",
    "attribute_sale",
    "buy",
    "candle_sku",
    "closed_month",
    "credit_points",
    "drop_packet",
    "flash_cup_sku",
    "give_budget",
    "give_coupon",
    "give_points",
    "in_group",
    "join",
    "listing_for",
    "make_coupon_template",
    "make_event",
    "make_group",
    "make_kol",
    "make_product",
    "make_rule",
    "make_sale",
    "make_template",
    "mall_listings",
    "mall_product_item",
    "new_key",
    "offer_data",
    "open_web_group",
    "picked_up_order",
    "pickup_window",
    "place_order",
    "post",
    "published_group_buy",
    "purchase_rule",
    "running_sale",
    "sale_data",
    "sale_skus",
    "set_stock",
    "settle",
    "standard_rules",
    "stock_of",
    "three_tiers",
    "two_cups_at",
    "window_days",
]
