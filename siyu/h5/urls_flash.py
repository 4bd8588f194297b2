"""H5 flash sales: the sale page (views_flash) and the purchase endpoints (siyu.h5.flash_buy)."""

from django.urls import path

from siyu.h5 import flash_buy as buy
from siyu.h5 import views_flash

urlpatterns = [
    path("flash/<int:campaign_id>/", views_flash.flash_sale, name="flash_sale"),
    path("flash/<int:campaign_id>/buy/", buy.buy_view, name="flash_buy"),
    path("flash/<int:campaign_id>/status/", buy.status_view, name="flash_status"),
    path("flash/<int:campaign_id>/r/<str:key>/", buy.reservation_view, name="flash_reservation"),
]
