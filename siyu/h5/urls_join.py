"""H5 pages for joining groups through live codes (群活码): ``/h5/j/<token>/``."""

from django.urls import path

from siyu.h5 import views_join

urlpatterns = [
    path("j/<str:token>/", views_join.join, name="join"),
]
