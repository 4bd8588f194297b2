"""API auth, error format, routing, OpenAPI and docs."""

from __future__ import annotations

import json
import re

from django.test import Client

from siyu.api.api import api as ninja_api
from siyu.org.services.tokens import create_token, revoke_token
from tests.api_support import API, ApiClient, assert_error
from tests.factories import TEST_PASSWORD

# --- authentication ----------------------------------------------------------------------------


def test_no_credentials_is_401_json(anonymous):
    for path in ("/members", "/stores", "/staff/me", "/tokens", "/tags"):
        assert_error(anonymous.get(path), 401, "not_authenticated")
    assert_error(anonymous.post("/members", {"mobile": "13800001234"}), 401, "not_authenticated")


def test_token_auth_works(as_clerk, clerk_a):
    response = as_clerk.get("/staff/me")
    assert response.status_code == 200
    assert response.json()["username"] == clerk_a.username


def test_revoked_token_is_401(clerk_a):
    row, key = create_token(clerk_a, "to revoke")
    client = ApiClient(token=key)
    assert client.get("/staff/me").status_code == 200
    revoke_token(clerk_a, row.pk)
    assert_error(client.get("/staff/me"), 401, "not_authenticated")


def test_wrong_or_malformed_tokens_are_401(db, clerk_a):
    for header in (
        "Bearer sy_nope",
        "Bearer ",
        "Bearer",
        "Basic Zm9vOmJhcg==",
        "sy_abc",
        "Bearer " + "x" * 5000,
    ):
        response = Client().get(f"{API}/staff/me", HTTP_AUTHORIZATION=header)
        assert_error(response, 401, "not_authenticated")


def test_token_of_inactive_staff_is_401(clerk_a):
    client = ApiClient(clerk_a)
    clerk_a.is_active = False
    clerk_a.save()
    assert_error(client.get("/staff/me"), 401)


def test_session_auth_with_csrf(db, clerk_a, store_a):
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=clerk_a.username, password=TEST_PASSWORD)
    assert client.get(f"{API}/staff/me").json()["username"] == clerk_a.username
    body = json.dumps({"mobile": "13800005678", "home_store": store_a.pk})
    # Unsafe method without the CSRF token: refused, nothing created.
    response = client.post(f"{API}/members", body, content_type="application/json")
    assert_error(response, 403, "csrf_failed")
    assert client.get(f"{API}/members").json()["count"] == 0
    # With the token from the cookie: accepted.
    client.get(f"{API}/docs")  # any page that renders {{ csrf_token }} sets the cookie
    csrf = client.cookies["csrftoken"].value
    response = client.post(f"{API}/members", body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201, response.content


def test_session_of_anonymous_user_is_401_not_403(db):
    client = Client(enforce_csrf_checks=True)
    assert_error(client.post(f"{API}/members", "{}", content_type="application/json"), 401)


def test_token_requests_need_no_csrf(clerk_a, store_a):
    client = ApiClient(clerk_a)
    client.client = Client(enforce_csrf_checks=True)
    response = client.post("/members", {"mobile": "13800005679", "home_store": store_a.pk})
    assert response.status_code == 201, response.content


# --- error format for routing problems --------------------------------------------------------------


def test_unknown_paths_and_methods_are_json(as_clerk):
    assert_error(as_clerk.get("/nope"), 404, "not_found")
    assert_error(as_clerk.get("/"), 404, "not_found")
    assert_error(as_clerk.get("/members/abc"), 404, "not_found")
    assert_error(as_clerk.get("/members/-1"), 404, "not_found")
    response = as_clerk.send("PUT", "/members", {})
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_unknown_ids_are_404(as_admin):
    for path in ("/members/999999", "/stores/999999", "/staff/999999"):
        assert_error(as_admin.get(path), 404, "not_found")
    assert_error(as_admin.post("/tags/999999/recompute"), 404, "not_found")
    assert_error(as_admin.delete("/tokens/999999"), 404, "not_found")


def test_huge_ids_are_400_not_500(as_admin):
    assert_error(as_admin.get("/members/99999999999999999999999"), 400, "invalid", "member_id")
    assert_error(as_admin.get("/members/0"), 400, "invalid", "member_id")


def test_nul_characters_are_refused(as_admin, member_a):
    response = as_admin.patch(f"/members/{member_a.pk}", {"name": "a\x00b"})
    assert_error(response, 400, "invalid", "name")
    response = as_admin.post("/tags", {"group": "g", "name": "n", "rule": {"district": ["x", "\x00"]}})
    assert_error(response, 400, "invalid", "rule.district.1")
    assert_error(as_admin.get("/members", {"q": "a\x00"}), 400, "invalid", "q")


def test_page_limits(as_admin):
    assert_error(as_admin.get("/members", {"limit": 201}), 400, "invalid", "limit")
    assert_error(as_admin.get("/members", {"limit": 0}), 400, "invalid", "limit")
    assert_error(as_admin.get("/members", {"offset": -1}), 400, "invalid", "offset")
    assert as_admin.get("/members", {"limit": 200}).status_code == 200


# --- OpenAPI and docs ------------------------------------------------------------------------------


def test_openapi_document(anonymous):
    response = anonymous.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "Siyu API"
    expected = {
        "/api/v1/stores": {"get", "post"},
        "/api/v1/stores/{store_id}": {"get", "patch"},
        "/api/v1/staff": {"get", "post"},
        "/api/v1/staff/me": {"get"},
        "/api/v1/staff/{staff_id}": {"get", "patch"},
        "/api/v1/members": {"get", "post"},
        "/api/v1/members/export": {"get"},
        "/api/v1/members/{member_id}": {"get", "patch"},
        "/api/v1/members/{member_id}/reveal-mobile": {"post"},
        "/api/v1/members/{member_id}/tags": {"post"},
        "/api/v1/members/{member_id}/tags/{tag_id}": {"delete"},
        "/api/v1/members/{member_id}/consent": {"post"},
        "/api/v1/members/{member_id}/events": {"get"},
        "/api/v1/members/{member_id}/notes": {"post"},
        "/api/v1/members/{member_id}/export": {"get"},
        "/api/v1/members/{member_id}/erase": {"post"},
        "/api/v1/tags": {"get", "post"},
        "/api/v1/tags/{tag_id}/recompute": {"post"},
        "/api/v1/imports/members": {"get", "post"},
        "/api/v1/tokens": {"get", "post"},
        "/api/v1/tokens/{token_id}": {"delete"},
    }
    for path, methods in expected.items():
        assert path in doc["paths"], path
        assert methods <= set(doc["paths"][path]), path
    operation_ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))
    for ops in doc["paths"].values():
        for op in ops.values():
            assert "4XX" in op["responses"]
            assert op["security"]
    assert "Error" in doc["components"]["schemas"]
    # Every $ref points at a defined schema.
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(doc)))
    assert refs <= set(doc["components"]["schemas"])
    try:
        from openapi_spec_validator import validate
    except ImportError:
        return
    validate(doc)  # pragma: no cover - only where the validator happens to be installed


def test_docs_page_works_offline(anonymous):
    response = anonymous.get("/docs")
    assert response.status_code == 200
    html = response.content.decode()
    # Nothing is loaded from another host.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assets = re.findall(r"""(?:src|href)="([^"]+)\"""", html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        got = anonymous.client.get(asset)
        assert got.status_code == 200, asset
        assert b"".join(got.streaming_content)
    settings = re.search(r'<script id="swagger-settings" type="application/json">(.*?)</script>', html, re.S)
    assert settings and json.loads(settings.group(1))["url"] == "/api/v1/openapi.json"
    assert_error(anonymous.client.get(f"{API}/docs/assets/..%2Fsettings.py"), 404)
    assert_error(anonymous.client.get(f"{API}/docs/assets/redoc.standalone.js"), 404)


def test_operations_are_all_authenticated():
    schema = ninja_api.get_openapi_schema(path_prefix="/api/v1/")
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            assert {"StaffTokenAuth": []} in op["security"], (method, path)


def test_clerk_cannot_manage(as_clerk, store_a):
    assert_error(as_clerk.post("/stores", {"code": "Z1", "name": "x"}), 403, "forbidden")
    assert_error(
        as_clerk.post(
            "/staff", {"username": "u1", "password": "a-long-password-1", "store_ids": [store_a.pk]}
        ),
        403,
    )


def test_oversized_json_body_is_413(as_admin, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = as_admin.post("/tags", {"group": "g", "name": "x" * 5000})
    assert_error(response, 413, "too_large")


def test_unsupported_media_type(as_admin):
    response = as_admin.post("/tags", raw=b"group=g&name=n", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type", "Content-Type")
    response = as_admin.post(
        "/tags", raw=b'{"group": "g", "name": "n"}', content_type="application/vnd.api+json"
    )
    assert response.status_code == 201
