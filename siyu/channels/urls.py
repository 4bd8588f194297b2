"""Webhook receivers for channels, mounted under ``/hooks/``."""

from django.urls import path

from siyu.channels import views

app_name = "hooks"
urlpatterns = [
    path("wecom/<int:connector_id>/", views.wecom_callback, name="wecom"),
    path("telegram/<int:connector_id>/", views.telegram_webhook, name="telegram"),
]
