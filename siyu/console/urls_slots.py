"""Console: recharge-slot deposits (预定充值名额) — campaigns, report, setup, and the counter."""

from django.urls import path

from siyu.console import views_slots

urlpatterns = [
    path("slots/", views_slots.slot_campaigns, name="slot_campaigns"),
    path("slots/new/", views_slots.slot_campaign_new, name="slot_campaign_new"),
    path("slots/counter/", views_slots.slot_counter, name="slot_counter"),
    path("slots/<int:slot_campaign_id>/", views_slots.slot_campaign_detail, name="slot_campaign"),
    path(
        "slots/<int:slot_campaign_id>/publish/",
        views_slots.slot_campaign_publish,
        name="slot_campaign_publish",
    ),
]
