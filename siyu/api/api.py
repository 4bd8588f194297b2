"""The NinjaAPI instance behind ``/api/v1/``: auth, strict parsing, JSON errors, offline docs."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from ninja import NinjaAPI
from ninja.openapi.docs import DocsBase
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation

from siyu.api.auth import API_AUTH
from siyu.api.docs import DOCS_ASSETS
from siyu.api.errors import install_error_handlers
from siyu.api.parser import StrictJsonParser
from siyu.api.routers import balance_payments as balance_payments_routes
from siyu.api.routers import campaigns as campaigns_routes
from siyu.api.routers import catalog as catalog_routes
from siyu.api.routers import communities as communities_routes
from siyu.api.routers import coupons as coupons_routes
from siyu.api.routers import events as events_routes
from siyu.api.routers import group_buys as group_buys_routes
from siyu.api.routers import imports, members, staff, stores, tags, tokens
from siyu.api.routers import incentives as incentives_routes
from siyu.api.routers import live_codes as live_codes_routes
from siyu.api.routers import loyalty as loyalty_routes
from siyu.api.routers import loyalty_mall as loyalty_mall_routes
from siyu.api.routers import moderation as moderation_routes
from siyu.api.routers import orders as orders_routes
from siyu.api.routers import recharge_slots as recharge_slots_routes
from siyu.api.routers import referrals as referrals_routes
from siyu.api.routers import stored_value as stored_value_routes

DESCRIPTION = """\
Siyu staff API. Authenticate with `Authorization: Bearer <token>` (create a token with `POST /tokens`
from a signed-in session) or with the console session cookie plus the `X-CSRFToken` header.

Every error is JSON `{"code", "message", "field"}` with a 4xx status. Lists take `?limit=` (1–200,
default 50) and `?offset=` and answer `{"count", "items"}`. Mobile numbers are always masked except
in `POST /members/{id}/reveal-mobile`. See docs/api.md.
"""

_HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


class OfflineSwagger(DocsBase):
    """Swagger UI from the copy bundled in django-ninja, served by our own asset view: the docs
    page works without internet access and without ninja in INSTALLED_APPS."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        settings = {"url": self.get_openapi_url(api, kwargs), "layout": "BaseLayout", "deepLinking": True}
        assets = {
            name.replace("-", "_").replace(".", "_"): reverse("api:docs-asset", args=[name])
            for name in DOCS_ASSETS
        }
        return render(request, "api/docs.html", {"api": api, "swagger_settings": settings, "assets": assets})


class SiyuNinjaAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        # Handler names are unique across the routers and read well in generated clients.
        return str(operation.view_func.__name__)

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        """The generated schema, plus the error shape every operation may answer with."""
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Error"] = {
            "title": "Error",
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string", "description": "Stable machine-readable code, e.g. not_found."},
                "message": {"type": "string", "description": "Human-readable, translated."},
                "field": {"type": ["string", "null"], "description": "The offending input, if any."},
            },
        }
        error_response = {
            "description": "Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                if method in _HTTP_METHODS:
                    operation.setdefault("responses", {}).setdefault("4XX", error_response)
        return schema


api = SiyuNinjaAPI(
    title="Siyu API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    auth=API_AUTH,
    parser=StrictJsonParser(),
    docs=OfflineSwagger(),
)
install_error_handlers(api)

api.add_router("/stores", stores.router, tags=["stores"])
api.add_router("/staff", staff.router, tags=["staff"])
api.add_router("/members", members.router, tags=["members"])
api.add_router("/tags", tags.router, tags=["tags"])
api.add_router("/imports", imports.router, tags=["imports"])
api.add_router("/tokens", tokens.router, tags=["tokens"])
api.add_router("", communities_routes.router, tags=["communities"])
api.add_router("/live-codes", live_codes_routes.router, tags=["live codes"])
api.add_router("", moderation_routes.router, tags=["moderation"])
api.add_router("", catalog_routes.router, tags=["catalog"])
api.add_router("", orders_routes.router, tags=["orders"])
api.add_router("", group_buys_routes.router, tags=["group buys"])
api.add_router("", campaigns_routes.router, tags=["campaigns"])
api.add_router("", coupons_routes.router, tags=["coupons"])
api.add_router("", loyalty_routes.router, tags=["loyalty"])
api.add_router("", loyalty_mall_routes.router, tags=["loyalty"])
api.add_router("", balance_payments_routes.router, tags=["stored value"])
api.add_router("", recharge_slots_routes.router, tags=["recharge slots"])
api.add_router("", stored_value_routes.router, tags=["stored value"])
api.add_router("", events_routes.router, tags=["events"])
api.add_router("", referrals_routes.router, tags=["referrals"])
api.add_router("", incentives_routes.router, tags=["incentives"])

__all__ = ["api"]
