"""Helpers and fixtures for the API tests (registered as a pytest plugin in tests/conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from siyu.org.services.tokens import create_token

API = "/api/v1"


class ApiClient:
    """A Django test client speaking JSON to the API with a staff token."""

    def __init__(self, staff: Any = None, *, token: str | None = None) -> None:
        self.client = Client()
        self.staff = staff
        if token is None and staff is not None:
            _row, token = create_token(staff, "tests")
        self.token = token

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}
        for k, v in (extra or {}).items():
            headers["HTTP_" + k.upper().replace("-", "_")] = v
        return headers

    def get(self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        return self.client.get(API + path, params or {}, **self._headers(headers))

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ):
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        return self.client.generic(
            method, API + path, data, content_type=content_type, **self._headers(headers)
        )

    def post(self, path: str, body: Any = None, **kw: Any):
        return self.send("POST", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any):
        return self.send("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any):
        return self.send("DELETE", path, **kw)


def assert_error(response, status: int, code: str | None = None, field: str | None = "__any__") -> dict:
    """The response is an API error in the house format with this status (and code/field if given)."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "field"}, body
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["code"] == code, body
    if field != "__any__":
        assert body["field"] == field, body
    return body


# --- fixtures shared by the API tests ---------------------------------------------------------


@pytest.fixture
def as_admin(hq_admin):
    return ApiClient(hq_admin)


@pytest.fixture
def as_operator(hq_operator):
    return ApiClient(hq_operator)


@pytest.fixture
def as_clerk(clerk_a):
    return ApiClient(clerk_a)


@pytest.fixture
def as_manager(manager_a):
    return ApiClient(manager_a)


@pytest.fixture
def anonymous(db):
    return ApiClient()
