from django.urls import include, path

from siyu.api.errors import not_found_view
from siyu.common.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1", not_found_view),  # JSON like everything under /api/v1/, not a redirect to it
    path("api/v1/", include("siyu.api.urls")),
    path("h5/", include("siyu.h5.urls")),
    path("hooks/pay/", include("siyu.orders.urls")),
    path("hooks/", include("siyu.channels.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("siyu.console.urls")),
]
