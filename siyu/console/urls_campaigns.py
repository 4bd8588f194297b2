"""Console: flash sale setup and live view."""

from django.urls import path

from siyu.console import views_campaigns

urlpatterns: list = [
    path("campaigns/", views_campaigns.campaigns, name="campaigns"),
    path("campaigns/flash/new/", views_campaigns.campaign_flash_new, name="campaign_flash_new"),
    path("campaigns/<int:campaign_id>/", views_campaigns.campaign_detail, name="campaign_detail"),
    path(
        "campaigns/<int:campaign_id>/edit/", views_campaigns.campaign_flash_edit, name="campaign_flash_edit"
    ),
    path("campaigns/<int:campaign_id>/live/", views_campaigns.campaign_live, name="campaign_live"),
    path("campaigns/<int:campaign_id>/publish/", views_campaigns.campaign_publish, name="campaign_publish"),
    path("campaigns/<int:campaign_id>/cancel/", views_campaigns.campaign_cancel, name="campaign_cancel"),
]
