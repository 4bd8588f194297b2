"""Junk input at every endpoint: never a 500, always a JSON error in the house format.

The endpoint list comes from the OpenAPI document, so a new endpoint is covered automatically.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from siyu.api.api import api as ninja_api
from siyu.org.services.tokens import create_token
from tests.api_support import API, ApiClient, assert_error
from tests.factories import TagFactory

SCHEMA = ninja_api.get_openapi_schema(path_prefix="/")
OPERATIONS = sorted(
    (method.upper(), path, op) for path, ops in SCHEMA["paths"].items() for method, op in ops.items()
)
OPERATION_IDS = [f"{m} {p}" for m, p, _op in OPERATIONS]

JUNK_BODIES: list[bytes] = [
    b'{"mobile": "1380',  # truncated
    b"{",
    b"[]",
    b'[{"name": "x"}]',
    b'"just a string"',
    b"42",
    b"null",
    b"true",
    b"{}",
    b'{"unknown_field_xyz": 1}',
    b"\xff\xfe\xfd",  # not UTF-8
    b'{"name": "\xff\xfe"}',
    b"\x00\x01\x02",
    b'{"latitude": NaN, "longitude": Infinity}',
    b'{"tag_id": 1' + b"0" * 5000 + b"}",  # more digits than Python will parse
    b"[" * 50_000 + b"]" * 50_000,  # deep nesting
    b'{"a": ' * 2000 + b"1" + b"}" * 2000,
]

JUNK_VALUES: list[Any] = [
    10**30,
    -(10**30),
    -1,
    0,
    1.5e308,
    "abc",
    "",
    "x" * 20_000,
    [],
    [1, "a", None],
    {},
    {"nested": {"deep": [1, 2, 3]}},
    None,
    True,
    "2024-99-99",
    "\u0000\ud7ff\uffff",
    "\ud7ff\uffff\u202e",
    "\ud800",  # a lone surrogate: valid JSON escape, not encodable text
]

JUNK_QUERIES: list[dict[str, str]] = [
    {"limit": "abc"},
    {"limit": "-5"},
    {"limit": "1000000000000000000000000"},
    {"limit": "201"},
    {"offset": "-1"},
    {"offset": "99999999999999999999999999"},
    {"store": "abc"},
    {"store": "99999999999999999999999999"},
    {"tag": "1e400"},
    {"joined_from": "not-a-date"},
    {"joined_to": "2024-02-30"},
    {"age_band": "ancient"},
    {"gender": "?"},
    {"q": "x" * 5000},
    {"format": "exe"},
]


@pytest.fixture
def world(brand, store_a, store_b, hq_admin, clerk_a, member_a, member_b):
    tag = TagFactory(group__brand=brand, name="junk-tag")
    client = ApiClient(hq_admin)
    spare_token, _secret = create_token(hq_admin, "spare")  # revoked by the DELETE /tokens junk, not ours
    ids = {
        "store_id": store_a.pk,
        "member_id": member_a.pk,
        "tag_id": tag.pk,
        "staff_id": clerk_a.pk,
        "token_id": spare_token.pk,
    }
    return {"client": client, "ids": ids}


def _fill(path: str, ids: dict[str, int], override: str | None = None) -> str:
    def sub(match: re.Match[str]) -> str:
        return override if override is not None else str(ids.get(match.group(1), 1))

    return re.sub(r"\{(\w+)\}", sub, path)


def _body_fields(op: dict[str, Any]) -> list[str]:
    content = op.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    if not ref:
        return []
    component = SCHEMA["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return list(component.get("properties", {}))


def _check(response) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if response.status_code >= 400:
        assert_error(response, response.status_code)


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=OPERATION_IDS)
def test_junk_at_every_endpoint(world, method, path, op):
    # One test per endpoint (not per kind of junk) keeps the fixture cost, password hashing, low.
    _junk_bodies(world, method, path, op)
    _junk_path_ids(world, method, path)
    _junk_queries(world, method, path)
    _junk_headers(world, method, path)


def _junk_bodies(world, method, path, op):
    client: ApiClient = world["client"]
    url = _fill(path, world["ids"])
    for body in JUNK_BODIES:
        _check(client.send(method, url, raw=body))
        _check(client.send(method, url, raw=body, content_type="text/plain"))
        _check(client.send(method, url, raw=body, content_type="application/x-www-form-urlencoded"))
    for field in _body_fields(op):
        for value in JUNK_VALUES:
            _check(client.send(method, url, {field: value}))


def _junk_path_ids(world, method, path):
    client: ApiClient = world["client"]
    if "{" not in path:
        return
    for bad in ("0", "99999999999999999999999999", "9223372036854775807", "9223372036854775808", "123456789"):
        response = client.send(method, _fill(path, world["ids"], bad), {})
        assert response.status_code in (400, 404, 409), (bad, response.status_code, response.content[:200])
        assert_error(response, response.status_code)
    for bad in ("abc", "-1", "1.5", "%FF", "1%00"):
        response = client.client.generic(
            method, API + _fill(path, world["ids"], bad), b"", HTTP_AUTHORIZATION=f"Bearer {client.token}"
        )
        assert_error(response, 404, "not_found")


def _junk_queries(world, method, path):
    client: ApiClient = world["client"]
    url = API + _fill(path, world["ids"])
    headers = {"HTTP_AUTHORIZATION": f"Bearer {client.token}"}
    for params in JUNK_QUERIES:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        _check(client.client.generic(method, f"{url}?{query}", b"", **headers))
    _check(client.client.generic(method, f"{url}?q=%FF%FE%00&store=%C0", b"", **headers))
    _check(client.client.generic(method, f"{url}?limit=1&limit=2&limit=x", b"", **headers))


def _junk_headers(world, method, path):
    client: ApiClient = world["client"]
    url = API + _fill(path, world["ids"])
    for auth in ("Bearer \x00", "Bearer " + "a" * 10_000, "Bearer sy_" + "é" * 10, "Token abc"):
        response = client.client.generic(
            method, url, b"{}", content_type="application/json", HTTP_AUTHORIZATION=auth
        )
        assert_error(response, 401, "not_authenticated")
    for key in ("", "x" * 300, "\t"):
        _check(client.send(method, _fill(path, world["ids"]), {}, headers={"Idempotency-Key": key}))


def test_junk_uploads(world):
    client: ApiClient = world["client"]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {client.token}"}
    url = f"{API}/imports/members"
    files = [
        ("a.csv", b""),
        ("a.csv", b"\xff\xfe\x00\x00garbage"),
        ("a.xlsx", b"PK\x03\x04 truncated zip"),
        ("a.exe", b"MZ\x90\x00"),
        ("../../etc/passwd", b"mobile\n13800000000\n"),
        ("a\x00b.csv", b"mobile\n13800000000\n"),
        ("a.csv", b"mobile\n" + b"1" * 100_000 + b"\n"),
        ("a.csv", b'mobile,name\n"13800000000,"unterminated\n'),
    ]
    for name, content in files:
        _check(client.client.post(url, {"file": SimpleUploadedFile(name, content)}, **headers))
    _check(client.client.post(url, {"file": ["x", "y"]}, **headers))
    # A multipart body that is not valid multipart.
    bad = b'--boundary\r\nContent-Disposition: form-data; name="file"\r\n\r\n'
    _check(
        client.client.generic(
            "POST", url, bad, content_type="multipart/form-data; boundary=boundary", **headers
        )
    )
    _check(client.client.generic("POST", url, bad, content_type="multipart/form-data", **headers))


# --- the schema says what the service accepts -------------------------------------------------------


def _body_schema(op: dict[str, Any]) -> dict[str, Any]:
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    return SCHEMA["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else {}


def _variants(prop: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]


def _beyond(prop: dict[str, Any]) -> list[Any]:
    """Values the schema itself rules out for this property: one past each length or range limit, and a
    value outside an enumeration."""
    values: list[Any] = []
    variants = _variants(prop)
    for p in variants:
        if p.get("type") == "string" and "maxLength" in p and len(variants) == 1:
            values.append("字" * (p["maxLength"] + 1))
        if p.get("type") in ("integer", "number") and len(variants) == 1:
            if "maximum" in p:
                values.append(p["maximum"] + 1)
            if "minimum" in p:
                values.append(p["minimum"] - 1)
        if "enum" in p:
            values.append("not-one-of-them")
    return values


BOUNDED = [
    (m, path, name, value)
    for m, path, op in OPERATIONS
    for name, prop in _body_schema(op).get("properties", {}).items()
    for value in _beyond(prop)
]


def test_the_schema_declares_limits():
    """The body fields of the main resources carry their limits in the OpenAPI document."""
    assert len(BOUNDED) >= 40, len(BOUNDED)
    members = _body_schema(next(op for m, p, op in OPERATIONS if (m, p) == ("POST", "/members")))
    assert _variants(members["properties"]["name"])[0]["maxLength"] == 50
    assert set(_variants(members["properties"]["gender"])[0]["enum"]) == {"m", "f", "u"}


@pytest.mark.parametrize(
    ("method", "path", "name", "value"),
    BOUNDED,
    ids=[f"{m} {p} {n}={str(v)[:12]}" for m, p, n, v in BOUNDED],
)
def test_values_beyond_the_schema_are_400_on_that_field(world, method, path, name, value):
    response = world["client"].send(method, _fill(path, world["ids"]), {name: value})
    body = assert_error(response, 400)
    # The first problem reported may be another (required) field; never a 500, never accepted.
    assert body["code"] in ("invalid", "malformed_json"), body


def test_schema_enumerations_match_the_models():
    from typing import get_args

    from siyu.api.schemas import GenderName, RoleName, StoreStatus
    from siyu.members.models import Gender
    from siyu.org.models import Role, Store

    assert set(get_args(StoreStatus)) == set(Store.Status.values)
    assert set(get_args(RoleName)) == set(Role.values)
    assert set(get_args(GenderName)) == set(Gender.values)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/stores", {"code": "X" * 32, "name": "店" * 100, "status": "preparing", "latitude": 90}, None),
        ("/stores", {"code": "X" * 33, "name": "店"}, "code"),
        ("/stores", {"code": "Y1", "name": "店" * 101}, "name"),
        ("/stores", {"code": "Y2", "name": "店", "latitude": 90.0001}, "latitude"),
        ("/members", {"mobile": "13700000001", "name": "名" * 50, "home_store": "A001"}, None),
        ("/members", {"mobile": "13700000002", "name": "名" * 51, "home_store": "A001"}, "name"),
        ("/tags", {"group": "组" * 50, "name": "签" * 50}, None),
        ("/tags", {"group": "组", "name": "签" * 51}, "name"),
    ],
)
def test_boundary_values_from_the_schema(as_admin, store_a, path, body, field):
    response = as_admin.post(path, body)
    if field is None:
        assert response.status_code == 201, response.content
    else:
        assert_error(response, 400, "invalid", field)
