"""Console: points-mall items and member tiers — head office only (store staff are refused), forms refuse
junk without a 500, stock is added once per form key, the tier preview counts points earned."""

from __future__ import annotations

from django.urls import reverse

from siyu.loyalty.models import MallItem, Tier
from tests.factories import credit_points, make_coupon_template, make_product


def _html(response, status: int = 200) -> str:
    assert response.status_code == status, (response.status_code, response.content[:400])
    return response.content.decode()


def test_hq_creates_edits_stocks_and_takes_out_a_coupon_item(client, hq_admin, brand, store_a):
    template = make_coupon_template(brand, name="十元券")
    client.force_login(hq_admin)
    assert "积分商城" in _html(client.get(reverse("console:loyalty"))) or reverse(
        "console:loyalty_mall"
    ) in _html(client.get(reverse("console:loyalty")))
    _html(client.get(reverse("console:loyalty_mall_new") + "?kind=coupon"))
    response = client.post(
        reverse("console:loyalty_mall_new"),
        {
            "kind": "coupon",
            "name": "十元券",
            "points": "100",
            "stock": "5",
            "coupon_template_id": template.pk,
        },
    )
    assert response.status_code == 302, response.content[:600]
    item = MallItem.objects.get()
    assert (item.points, item.stock, item.coupon_template_id) == (100, 5, template.pk)
    page = _html(client.get(reverse("console:loyalty_mall")))
    assert "十元券" in page
    stock_url = reverse("console:loyalty_mall_stock", args=[item.pk])
    client.post(stock_url, {"amount": "10", "key": "k1"})
    client.post(stock_url, {"amount": "10", "key": "k1"})  # a double tap
    item.refresh_from_db()
    assert item.stock == 15
    _html(client.get(reverse("console:loyalty_mall_edit", args=[item.pk])))
    edited = client.post(
        reverse("console:loyalty_mall_edit", args=[item.pk]),
        {
            "name": "十元券",
            "points": "80",
            "member_limit": "2",
            "coupon_template_id": template.pk,
            "stores": [store_a.pk],
        },
    )
    assert edited.status_code == 302, edited.content[:600]
    item.refresh_from_db()
    assert (item.points, item.member_limit, item.stock) == (80, 2, 15)
    client.post(reverse("console:loyalty_mall_active", args=[item.pk]), {"active": "0"})
    item.refresh_from_db()
    assert not item.active


def test_product_item_and_junk_never_500(client, hq_admin, brand):
    sku = make_product(hq_admin).skus.first()
    client.force_login(hq_admin)
    ok = client.post(
        reverse("console:loyalty_mall_new"),
        {"kind": "product", "name": "杯子", "points": "300", "stock": "2", "sku_id": sku.pk},
    )
    assert ok.status_code == 302
    item = MallItem.objects.get(kind="product")
    assert "杯子" in _html(client.get(reverse("console:loyalty_mall_edit", args=[item.pk])))
    for junk in (
        {"kind": "product", "name": "x", "points": "1", "stock": "1"},  # no SKU
        {"kind": "coupon", "name": "x", "points": "0", "stock": "1"},
        {"kind": "bogus", "name": "", "points": "abc", "stock": "-1"},
    ):
        _html(client.post(reverse("console:loyalty_mall_new"), junk))
    _html(
        client.post(reverse("console:loyalty_mall_stock", args=[item.pk]), {"amount": "zero", "key": "x"}),
        302,
    )
    _html(client.get(reverse("console:loyalty_mall_edit", args=[999999])), 404)
    assert MallItem.objects.count() == 1


def test_tiers_with_preview(client, hq_admin, brand, member_a, member_b):
    client.force_login(hq_admin)
    _html(client.get(reverse("console:loyalty_tiers")))
    _html(client.get(reverse("console:loyalty_tier_new")))
    credit_points(member_a, 1200)
    preview = _html(
        client.post(
            reverse("console:loyalty_tier_new"),
            {
                "action": "preview",
                "name": "金卡",
                "threshold": "1000",
                "multiplier_percent": "150",
                "grace_days": "0",
            },
        )
    )
    assert "金卡" in preview and "1 " in preview
    assert not Tier.objects.exists()  # a preview saves nothing
    saved = client.post(
        reverse("console:loyalty_tier_new"),
        {
            "action": "save",
            "name": "金卡",
            "threshold": "1000",
            "multiplier_percent": "150",
            "grace_days": "7",
            "member_price": "on",
        },
    )
    assert saved.status_code == 302, saved.content[:600]
    tier = Tier.objects.get()
    assert (tier.threshold, tier.multiplier_percent, tier.grace_days, tier.member_price) == (
        1000,
        150,
        7,
        True,
    )
    page = _html(client.get(reverse("console:loyalty_tiers")))
    assert "金卡" in page and "1.5×" in page
    _html(
        client.post(
            reverse("console:loyalty_tier_new"),
            {"name": "又一个", "threshold": "1000", "multiplier_percent": "50"},
        )
    )
    _html(
        client.post(
            reverse("console:loyalty_tier_edit", args=[tier.pk]),
            {"name": "金卡", "threshold": "800", "multiplier_percent": "200", "grace_days": "0"},
        ),
        302,
    )
    tier.refresh_from_db()
    assert (tier.threshold, tier.multiplier_percent, tier.member_price) == (800, 200, False)


def test_store_staff_are_refused(client, manager_a, clerk_a, brand):
    template = make_coupon_template(brand)
    item = MallItem.objects.create(
        brand=brand, kind="coupon", name="券", points=10, stock=1, coupon_template=template
    )
    tier = Tier.objects.create(brand=brand, name="金卡", threshold=1000)
    for staff in (manager_a, clerk_a):
        client.force_login(staff)
        assert reverse("console:loyalty_mall") not in _html(client.get(reverse("console:loyalty")))
        for url in (
            reverse("console:loyalty_mall"),
            reverse("console:loyalty_mall_new"),
            reverse("console:loyalty_mall_edit", args=[item.pk]),
            reverse("console:loyalty_tiers"),
            reverse("console:loyalty_tier_edit", args=[tier.pk]),
        ):
            assert client.get(url).status_code == 403, url
        assert (
            client.post(
                reverse("console:loyalty_mall_stock", args=[item.pk]), {"amount": "5", "key": "a"}
            ).status_code
            == 403
        )
    item.refresh_from_db()
    assert item.stock == 1
