"""Staff sign-in with throttling by username and by IP address."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import NotAuthenticated, RateLimited
from siyu.org.models import LoginAttempt, Staff


def client_ip(request: HttpRequest) -> str | None:
    """The client address. Behind a proxy, have it set REMOTE_ADDR (X-Forwarded-For is not trusted)."""
    return request.META.get("REMOTE_ADDR") or None


def check_login_allowed(username: str, ip: str | None) -> None:
    """Raise RateLimited when too many recent failures for this username or this IP."""
    since = timezone.now() - timedelta(seconds=settings.SIYU_LOGIN_WINDOW_SECONDS)
    recent = LoginAttempt.objects.filter(created_at__gte=since, succeeded=False)
    limit = settings.SIYU_LOGIN_MAX_FAILURES
    if recent.filter(username=username.lower()).count() >= limit or (
        ip and recent.filter(ip=ip).count() >= limit * 4
    ):
        raise RateLimited(_("Too many failed sign-ins. Try again in a few minutes."))


def staff_login(request: HttpRequest, username: str, password: str) -> Staff:
    """Check credentials under throttling; returns the staff account or raises.

    Raises RateLimited before checking the password when the username or IP is locked out,
    and NotAuthenticated for wrong credentials. Every attempt is recorded.
    """
    username = (username or "").strip()[:150]
    ip = client_ip(request)
    check_login_allowed(username, ip)
    user = authenticate(request, username=username, password=password or "")
    LoginAttempt.objects.create(username=username.lower(), ip=ip, succeeded=user is not None)
    if user is None or not isinstance(user, Staff):
        raise NotAuthenticated(_("Wrong username or password."))
    return user
