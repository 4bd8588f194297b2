"""Console: stored value (储值) — tiers, policy, counter recharge, gifts, a member's balance, reports."""

from django.urls import path

from siyu.console import views_stored_value as views

urlpatterns: list = [
    path("stored-value/", views.sv_home, name="sv_home"),
    path("stored-value/tiers/new/", views.sv_rule_new, name="sv_rule_new"),
    path("stored-value/tiers/<int:rule_id>/", views.sv_rule_edit, name="sv_rule_edit"),
    path("stored-value/policy/", views.sv_policy, name="sv_policy"),
    path("stored-value/counter/", views.sv_counter, name="sv_counter"),
    path("stored-value/gifts/<int:gift_id>/hand-over/", views.sv_gift_hand_over, name="sv_gift_hand_over"),
    path("stored-value/reports/", views.sv_reports, name="sv_reports"),
    path("members/<int:member_id>/stored-value/", views.sv_member, name="sv_member"),
    path("members/<int:member_id>/stored-value/refund/", views.sv_member_refund, name="sv_member_refund"),
]
