"""H5 payment code for paying with stored value at the counter (siyu.h5.views_balance_pay)."""

from django.urls import path

from siyu.h5 import views_balance_pay

urlpatterns = [
    path("balance/pay-code/", views_balance_pay.pay_code, name="balance_pay_code"),
    path("balance/pay-code/fresh/", views_balance_pay.pay_code_fresh, name="balance_pay_code_fresh"),
]
