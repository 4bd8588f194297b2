"""H5 group buys (拼团): the offer, a team, and the open / join / share buttons."""

from django.urls import path

from siyu.h5 import views_groupbuy

urlpatterns = [
    path("tuan/<int:campaign_id>/", views_groupbuy.group_buy, name="group_buy"),
    path("tuan/<int:campaign_id>/open/", views_groupbuy.group_buy_open, name="group_buy_open"),
    path("tuan/team/<int:team_id>/", views_groupbuy.group_buy_team, name="group_buy_team"),
    path("tuan/team/<int:team_id>/join/", views_groupbuy.group_buy_join, name="group_buy_join"),
    path("tuan/team/<int:team_id>/share/", views_groupbuy.group_buy_share, name="group_buy_share"),
]
