"""Console: loyalty — earn rules, the points mall, tiers, member points, red packets, reports."""

from django.urls import path

from siyu.console import views_loyalty, views_loyalty_mall

urlpatterns: list = [
    path("loyalty/", views_loyalty.loyalty_home, name="loyalty"),
    path("loyalty/rules/new/", views_loyalty.rule_new, name="loyalty_rule_new"),
    path("loyalty/rules/<int:rule_id>/", views_loyalty.rule_edit, name="loyalty_rule_edit"),
    path("loyalty/settings/", views_loyalty.loyalty_settings, name="loyalty_settings"),
    path("loyalty/mall/", views_loyalty_mall.mall_items, name="loyalty_mall"),
    path("loyalty/mall/new/", views_loyalty_mall.mall_item_new, name="loyalty_mall_new"),
    path("loyalty/mall/<int:item_id>/", views_loyalty_mall.mall_item_edit, name="loyalty_mall_edit"),
    path("loyalty/mall/<int:item_id>/stock/", views_loyalty_mall.mall_item_stock, name="loyalty_mall_stock"),
    path(
        "loyalty/mall/<int:item_id>/active/", views_loyalty_mall.mall_item_active, name="loyalty_mall_active"
    ),
    path("loyalty/tiers/", views_loyalty_mall.tier_list, name="loyalty_tiers"),
    path("loyalty/tiers/new/", views_loyalty_mall.tier_new, name="loyalty_tier_new"),
    path("loyalty/tiers/<int:tier_id>/", views_loyalty_mall.tier_edit, name="loyalty_tier_edit"),
    path("loyalty/red-packets/", views_loyalty.red_packet_list, name="red_packets"),
    path("loyalty/reports/liability/", views_loyalty.liability_report, name="loyalty_liability"),
    path("loyalty/reports/coupons/", views_loyalty.coupon_report, name="loyalty_coupons_report"),
    path("members/<int:member_id>/points/", views_loyalty.member_points, name="member_points"),
    path(
        "members/<int:member_id>/points/adjust/",
        views_loyalty.member_points_adjust,
        name="member_points_adjust",
    ),
]
