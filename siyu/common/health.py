"""``/healthz``: a constant answer from the full middleware stack and no database — for load balancers, and
the ceiling the benchmarks measure an endpoint against (the same server, in the same run)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")
