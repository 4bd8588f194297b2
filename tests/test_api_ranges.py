"""Integer ranges stated in the OpenAPI document (issue 9: the schema says what the service accepts): the
catalog, flash-sale and moderation inputs carry minimum/maximum, and values outside are 400 on that field —
nested item fields included (the junk test covers top-level body fields from the same document)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import pytest
from ninja import Schema

from siyu.api import routers as api_routers
from siyu.api.api import api as ninja_api
from siyu.campaigns.services import flash_sales
from siyu.catalog.services.products import MAX_PRICE_FEN
from siyu.communities.services.moderation_policy import INT_LIMITS
from tests.api_support import ApiClient, assert_error
from tests.factories import two_cups_at

SCHEMA = ninja_api.get_openapi_schema(path_prefix="/")


def _bounds(component: str, field: str) -> tuple[Any, Any]:
    prop = SCHEMA["components"]["schemas"][component]["properties"][field]
    variant = next(p for p in prop.get("anyOf", [prop]) if p.get("type") != "null")
    return variant.get("minimum"), variant.get("maximum")


@pytest.mark.parametrize(
    ("component", "field", "low", "high"),
    [
        ("SkuIn", "price_fen", 1, MAX_PRICE_FEN),
        ("SkuIn", "member_price_fen", 1, MAX_PRICE_FEN),
        ("SkuUpdateIn", "price_fen", 1, MAX_PRICE_FEN),
        ("SkuUpdateIn", "member_price_fen", 1, MAX_PRICE_FEN),
        ("FlashItemIn", "price_fen", 1, MAX_PRICE_FEN),
        ("FlashItemIn", "stock", 1, flash_sales.MAX_STOCK),
        ("FlashItemIn", "per_member_limit", 1, flash_sales.MAX_PER_MEMBER),
        *(("PolicyIn", name, low, high) for name, (low, high) in INT_LIMITS.items()),
    ],
)
def test_openapi_carries_the_ranges(component, field, low, high):
    assert _bounds(component, field) == (low, high)


def test_nested_flash_item_out_of_range_is_400_on_the_item_field(hq_admin, skus_for_ranges, store_a):
    api = ApiClient(hq_admin)
    sku = skus_for_ranges
    base = {
        "title": "周末秒杀",
        "starts_at": "2030-01-01T10:00:00+08:00",
        "ends_at": "2030-01-01T12:00:00+08:00",
    }
    for item, field in (
        ({"price_fen": 0}, "items.0.price_fen"),
        ({"price_fen": MAX_PRICE_FEN + 1}, "items.0.price_fen"),
        ({"stock": flash_sales.MAX_STOCK + 1}, "items.0.stock"),
        ({"per_member_limit": 0}, "items.0.per_member_limit"),
        ({"per_member_limit": flash_sales.MAX_PER_MEMBER + 1}, "items.0.per_member_limit"),
    ):
        body = {**base, "items": [{"sku_id": sku.pk, "price_fen": 100, "stock": 5, **item}]}
        assert_error(api.post("/campaigns/flash-sales", body), 400, "invalid", field)


@pytest.fixture
def skus_for_ranges(hq_admin, store_a):
    return two_cups_at(hq_admin, store_a)[0].sku


def test_schema_names_are_unique_across_routers():
    """The OpenAPI document names each schema by its class name: two classes with one name would silently
    share one component (the document then describes only one of them)."""
    seen: dict[str, str] = {}
    routers = [f"siyu.api.routers.{m.name}" for m in pkgutil.iter_modules(api_routers.__path__)]
    modules = ["siyu.api.schemas", *routers]
    for name in modules:
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or not issubclass(cls, Schema):
                continue
            assert cls_name not in seen, f"{cls_name} is defined in {seen[cls_name]} and {name}"
            seen[cls_name] = name
