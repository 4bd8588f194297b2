"""Console: group buys (拼团) — teams, campaigns, head office's setup, publish and cancel."""

from django.urls import path

from siyu.console import views_groupbuys

urlpatterns = [
    path("group-buys/", views_groupbuys.group_buys_page, name="group_buys"),
    path("group-buys/new/", views_groupbuys.group_buy_new, name="group_buy_new"),
    path("group-buys/<int:campaign_id>/", views_groupbuys.group_buy_detail, name="group_buy_detail"),
    path(
        "group-buys/<int:campaign_id>/publish/", views_groupbuys.group_buy_publish, name="group_buy_publish"
    ),
    path("group-buys/<int:campaign_id>/cancel/", views_groupbuys.group_buy_cancel, name="group_buy_cancel"),
    path("group-buys/teams/<int:team_id>/", views_groupbuys.group_buy_team, name="group_buy_team"),
]
