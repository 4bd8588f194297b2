"""Member-facing mobile pages (H5), mounted under ``/h5/``."""

from django.urls import path

from siyu.h5 import (
    urls_balance,
    urls_balance_pay,
    urls_chat,
    urls_coupons,
    urls_entry,
    urls_events,
    urls_flash,
    urls_groupbuy,
    urls_invites,
    urls_join,
    urls_loyalty,
    urls_mall,
    urls_moderation,
    urls_points,
    urls_slots,
    views,
)

app_name = "h5"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("wechat/start/", views.wechat_start, name="wechat_start"),
    path("wechat/callback/", views.wechat_callback, name="wechat_callback"),
    path("me/", views.me, name="me"),
    path("avatars/<str:name>", views.avatar, name="avatar"),
    path("consent/", views.consent, name="consent"),
    path("my-data/", views.my_data, name="my_data"),
    *urls_join.urlpatterns,
    *urls_chat.urlpatterns,
    *urls_entry.urlpatterns,
    *urls_moderation.urlpatterns,
    *urls_mall.urlpatterns,
    *urls_flash.urlpatterns,
    *urls_groupbuy.urlpatterns,
    *urls_coupons.urlpatterns,
    *urls_points.urlpatterns,
    *urls_loyalty.urlpatterns,
    *urls_slots.urlpatterns,
    *urls_balance.urlpatterns,
    *urls_balance_pay.urlpatterns,
    *urls_events.urlpatterns,
    *urls_invites.urlpatterns,
]
