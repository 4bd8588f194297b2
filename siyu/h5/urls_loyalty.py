"""H5 loyalty: points red packets (check-in: views_points.checkin_page)."""

from django.urls import path

from siyu.h5 import views_loyalty

urlpatterns = [
    path("red-packets/<int:packet_id>/", views_loyalty.red_packet, name="red_packet"),
    path("red-packets/<int:packet_id>/grab/", views_loyalty.red_packet_grab, name="red_packet_grab"),
    path("c/<int:community_id>/red-packet/", views_loyalty.red_packet_drop, name="red_packet_drop"),
]
