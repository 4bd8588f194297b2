"""Webhook receivers for channels, mounted under ``/hooks/`` (filled in by the WeCom/Telegram work)."""

app_name = "hooks"
urlpatterns: list = []
