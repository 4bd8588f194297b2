"""Console: paying with stored value at the counter (siyu.console.views_balance_pay)."""

from django.urls import path

from siyu.console import views_balance_pay

urlpatterns = [
    path("balance/pay/", views_balance_pay.balance_pay, name="balance_pay"),
    path("balance/payments/", views_balance_pay.balance_payments, name="balance_payments"),
    path(
        "balance/payments/<int:payment_id>/refund/",
        views_balance_pay.balance_payment_refund,
        name="balance_payment_refund",
    ),
]
