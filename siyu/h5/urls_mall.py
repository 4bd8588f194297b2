"""H5 pages of the member mall: products, cart, checkout, SANDBOX cashier, my orders."""

from django.urls import path

from siyu.h5 import views_mall

urlpatterns = [
    path("mall/", views_mall.mall, name="mall"),
    path("mall/store/", views_mall.pick_store, name="mall_pick_store"),
    path("mall/p/<int:listing_id>/", views_mall.product, name="mall_product"),
    path("mall/img/<int:image_id>/<str:name>", views_mall.product_image, name="mall_image"),
    path("mall/cart/", views_mall.cart, name="mall_cart"),
    path("mall/cart/add/", views_mall.cart_add, name="mall_cart_add"),
    path("mall/cart/update/", views_mall.cart_update, name="mall_cart_update"),
    path("mall/checkout/", views_mall.checkout, name="mall_checkout"),
    path("pay/sandbox/<str:out_trade_no>/", views_mall.sandbox_pay, name="sandbox_pay"),
    path("orders/", views_mall.orders, name="orders"),
    path("orders/<int:order_id>/", views_mall.order, name="order"),
    path("orders/<int:order_id>/qr.png", views_mall.order_qr, name="order_qr"),
    path("orders/<int:order_id>/pay/", views_mall.order_pay, name="order_pay"),
    path("orders/<int:order_id>/cancel/", views_mall.order_cancel, name="order_cancel"),
]
