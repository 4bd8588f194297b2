from django.urls import include, path

urlpatterns = [
    path("api/v1/", include("siyu.api.urls")),
    path("h5/", include("siyu.h5.urls")),
    path("hooks/pay/", include("siyu.orders.urls")),
    path("hooks/", include("siyu.channels.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("siyu.console.urls")),
]
