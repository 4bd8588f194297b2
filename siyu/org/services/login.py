"""Staff sign-in with throttling by username and by IP address.

The throttle is atomic: an attempt *reserves* its place before the password is checked. Under a row lock
on the username's (and the IP's) ``LoginThrottle`` row, the recent failures — counting attempts still in
flight as failures — are compared with the limit and the attempt is written, so however many requests
arrive at once, at most ``SIYU_LOGIN_MAX_FAILURES`` password checks run per username (and four times that
per IP) in any window of ``SIYU_LOGIN_WINDOW_SECONDS``. A successful attempt then stops counting.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import NotAuthenticated, RateLimited
from siyu.org.models import LoginAttempt, LoginThrottle, Staff

# Failures allowed per IP address, as a multiple of the per-username limit (one office, several staff).
IP_LIMIT_FACTOR = 4


def client_ip(request: HttpRequest) -> str | None:
    """The client address. Behind a proxy, have it set REMOTE_ADDR (X-Forwarded-For is not trusted)."""
    return request.META.get("REMOTE_ADDR") or None


def _throttle_keys(username: str, ip: str | None) -> list[str]:
    keys = [f"user:{username}"[:200]]
    if ip:
        keys.append(f"ip:{ip}")
    return sorted(keys)  # always locked in the same order: two attempts never wait on each other crosswise


def reserve_attempt(username: str, ip: str | None) -> LoginAttempt:
    """Reserve one password check for ``username`` from ``ip``, or raise RateLimited.

    Guarantees: atomic — the throttle rows of the username and the IP are locked (``SELECT … FOR UPDATE``;
    on SQLite writers are serialised), the failures of the window are counted *including attempts not yet
    finished*, and the attempt is recorded as a failure before the lock is released. The caller marks it
    succeeded with ``finish_attempt`` once the password proved right.
    """
    username = username.lower()
    keys = _throttle_keys(username, ip)
    since = timezone.now() - timedelta(seconds=settings.SIYU_LOGIN_WINDOW_SECONDS)
    limit = settings.SIYU_LOGIN_MAX_FAILURES
    with transaction.atomic():
        LoginThrottle.objects.bulk_create([LoginThrottle(key=k) for k in keys], ignore_conflicts=True)
        list(LoginThrottle.objects.select_for_update().filter(key__in=keys).order_by("key"))
        recent = LoginAttempt.objects.filter(created_at__gte=since, succeeded=False)
        if recent.filter(username=username).count() >= limit or (
            ip and recent.filter(ip=ip).count() >= limit * IP_LIMIT_FACTOR
        ):
            raise RateLimited(_("Too many failed sign-ins. Try again in a few minutes."))
        return LoginAttempt.objects.create(username=username, ip=ip, succeeded=False)


def finish_attempt(attempt: LoginAttempt, *, succeeded: bool) -> None:
    """Record the outcome of a reserved attempt: a success no longer counts against the limit."""
    if succeeded:
        LoginAttempt.objects.filter(pk=attempt.pk).update(succeeded=True)


def staff_login(request: HttpRequest, username: str, password: str) -> Staff:
    """Check credentials under throttling; returns the staff account or raises.

    Raises RateLimited *before* checking the password when the username or IP has used its attempts — the
    attempt is reserved atomically first (``reserve_attempt``), so concurrent requests cannot slip past the
    limit — and NotAuthenticated for wrong credentials. Every attempt is recorded.
    """
    username = (username or "").strip()[:150]
    attempt = reserve_attempt(username, client_ip(request))
    user = authenticate(request, username=username, password=password or "")
    ok = user is not None and isinstance(user, Staff)
    finish_attempt(attempt, succeeded=ok)
    if not ok or not isinstance(user, Staff):
        raise NotAuthenticated(_("Wrong username or password."))
    return user
