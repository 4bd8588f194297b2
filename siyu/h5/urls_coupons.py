"""H5 coupon wallet pages."""

from django.urls import path

from siyu.h5 import views_coupons

urlpatterns = [
    path("coupons/", views_coupons.wallet, name="coupons"),
    path("coupons/<int:coupon_id>/", views_coupons.coupon, name="coupon"),
    path("coupons/<int:coupon_id>/qr.png", views_coupons.coupon_qr, name="coupon_qr"),
]
