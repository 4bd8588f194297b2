"""Payment notification hooks, mounted under ``/hooks/pay/``."""

from django.urls import path

from siyu.orders import views

app_name = "pay_hooks"
urlpatterns = [
    path("wechat/", views.wechat_notification, name="wechat"),
]
