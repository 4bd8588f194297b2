"""H5 pages for joining groups through live codes (filled in by the live-code work)."""

urlpatterns: list = []
