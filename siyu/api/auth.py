"""API authentication: a staff API token (``Authorization: Bearer sy_…``) or the console's session.

Token requests carry no cookies' ambient authority, so they need no CSRF token. Session requests
come from a browser, so unsafe methods must carry Django's CSRF token (``X-CSRFToken`` header).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from siyu.common.errors import NotAuthenticated, PermissionDenied
from siyu.common.idempotency import actor_ref
from siyu.org.models import Staff
from siyu.org.services.tokens import authenticate_token


class StaffTokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``. A token that is present but wrong, revoked or belongs to an
    inactive account is refused outright (401) rather than falling back to the session."""

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get(self.header)
        if header is None:
            return None
        scheme, _sep, token = header.strip().partition(" ")
        if scheme.lower() != self.openapi_scheme:
            raise NotAuthenticated(_("Use the header Authorization: Bearer <token>."))
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Staff:
        found = authenticate_token(token)
        if found is None:
            raise NotAuthenticated(_("This API token is not valid or was revoked."))
        request.siyu_actor = actor_ref("token", found.pk)  # type: ignore[attr-defined]
        return found.staff


class StaffSessionAuth(APIKeyCookie):
    """The signed-in console user (an active ``Staff``), with CSRF enforced for unsafe methods."""

    param_name: str = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        # Unlike ninja's SessionAuth, CSRF is checked only once we know there is a signed-in user,
        # so an anonymous request gets 401 (sign in) rather than 403 (CSRF).
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Staff | None:
        user = getattr(request, "user", None)
        if not isinstance(user, Staff) or not user.is_authenticated or not user.is_active:
            return None
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise PermissionDenied(
                _("CSRF check failed: send the X-CSRFToken header with the csrftoken cookie's value."),
                code="csrf_failed",
            )
        request.siyu_actor = actor_ref("staff", user.pk)  # type: ignore[attr-defined]
        return user


token_auth = StaffTokenAuth()
session_auth = StaffSessionAuth()
API_AUTH = [token_auth, session_auth]


def current_actor(request: HttpRequest) -> str:
    """Who sent an authenticated API request: ``token:<id>`` or ``staff:<id>`` (the console session).
    Idempotency keys are scoped to it (ADR 0009)."""
    staff = current_staff(request)
    return getattr(request, "siyu_actor", None) or actor_ref("staff", staff.pk)


def current_staff(request: HttpRequest) -> Staff:
    """The authenticated staff member of an API request (set by the auth classes above)."""
    staff = getattr(request, "auth", None)
    if not isinstance(staff, Staff):
        raise NotAuthenticated(_("Sign in or send a valid API token."))
    return staff
