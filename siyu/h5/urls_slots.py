"""H5 recharge slots: a slot campaign's page and 我的名额 (siyu.h5.views_slots)."""

from django.urls import path

from siyu.h5 import views_slots

urlpatterns = [
    path("slots/", views_slots.my_slots, name="my_slots"),
    path("slots/<int:campaign_id>/", views_slots.slot_campaign, name="slot_campaign"),
]
