"""Console: loyalty — earn rules, member points, red packets, reports."""

from django.urls import path

from siyu.console import views_loyalty

urlpatterns: list = [
    path("loyalty/", views_loyalty.loyalty_home, name="loyalty"),
    path("loyalty/rules/new/", views_loyalty.rule_new, name="loyalty_rule_new"),
    path("loyalty/rules/<int:rule_id>/", views_loyalty.rule_edit, name="loyalty_rule_edit"),
    path("loyalty/settings/", views_loyalty.loyalty_settings, name="loyalty_settings"),
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
