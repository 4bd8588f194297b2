"""H5 page for entering a WeCom or Telegram group the member was seated in: ``/h5/g/<id>/``."""

from django.urls import path

from siyu.h5 import views_entry

urlpatterns = [
    path("g/<int:community_id>/", views_entry.enter, name="entry"),
]
