from django.urls import path  # noqa: F401

app_name = "h5"
urlpatterns: list = []
