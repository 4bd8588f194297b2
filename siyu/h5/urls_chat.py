"""H5 pages for the built-in web group chat (filled in by the web-channel work)."""

urlpatterns: list = []
