"""Console: paying with stored value at the counter (siyu.console.views_balance_pay)."""

from django.urls import path

from siyu.console import views_balance_pay

urlpatterns = [
    path("stored-value/pay/", views_balance_pay.balance_pay, name="sv_pay"),
    path("stored-value/payments/", views_balance_pay.balance_payments, name="sv_payments"),
    path(
        "stored-value/payments/<int:payment_id>/refund/",
        views_balance_pay.balance_payment_refund,
        name="sv_payment_refund",
    ),
]
