"""H5 points pages: 我的积分, check-in, the points mall and the tier card (siyu.h5.views_points)."""

from django.urls import path

from siyu.h5 import views_points

urlpatterns = [
    path("points/", views_points.points_home, name="points"),
    path("points/checkin/", views_points.checkin_page, name="points_checkin"),
    path("points/mall/", views_points.mall_page, name="points_mall"),
    path("points/mall/<int:item_id>/", views_points.mall_item, name="points_item"),
    path("points/tier/", views_points.tier_page, name="points_tier"),
]
