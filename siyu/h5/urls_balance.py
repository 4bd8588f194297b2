"""H5 stored value pages: 我的余额 (siyu.h5.views_balance)."""

from django.urls import path

from siyu.h5 import views_balance

urlpatterns = [
    path("balance/", views_balance.balance_home, name="balance"),
]
