"""H5 page for the member's moderation notices and appeals: ``/h5/notices/``."""

from django.urls import path

from siyu.h5 import views_moderation

urlpatterns = [
    path("notices/", views_moderation.notices, name="notices"),
]
