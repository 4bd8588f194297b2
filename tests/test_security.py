"""Security findings of issue 9: atomic login throttling, the plan-accept channel, member creation when the
mobile exists elsewhere (ADR 0010)."""

from __future__ import annotations

import threading
from typing import Any, get_args

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.test import RequestFactory

from siyu.api.schemas import ChannelName
from siyu.channels.models import ChannelKind
from siyu.common.errors import NotAuthenticated, RateLimited, ValidationFailed
from siyu.communities.models import Community
from siyu.communities.services import matrix
from siyu.org.models import LoginAttempt
from siyu.org.services import login
from tests.api_support import assert_error
from tests.conftest import is_postgres
from tests.factories import TEST_PASSWORD
from tests.race_support import run_threads


class CountingHasher:
    """Counts the password checks (``verify``) and dummy hashes (``encode``, run for unknown usernames)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        verify, encode = Argon2PasswordHasher.verify, Argon2PasswordHasher.encode

        def counted(original: Any) -> Any:
            def wrapper(hasher: Any, *args: Any, **kwargs: Any) -> Any:
                with self._lock:
                    self.calls += 1
                return original(hasher, *args, **kwargs)

            return wrapper

        monkeypatch.setattr(Argon2PasswordHasher, "verify", counted(verify))
        monkeypatch.setattr(Argon2PasswordHasher, "encode", counted(encode))


def _attempt(username: str, password: str, ip: str) -> object:
    request = RequestFactory().post("/login/", REMOTE_ADDR=ip)
    return login.staff_login(request, username, password)


# --- login throttling -----------------------------------------------------------------------------


def test_login_reserves_before_checking_the_password(clerk_a, monkeypatch, settings):
    settings.SIYU_LOGIN_MAX_FAILURES = 3
    hasher = CountingHasher(monkeypatch)
    outcomes = []
    for _i in range(6):
        try:
            _attempt(clerk_a.username, "wrong", "10.0.0.9")
        except (NotAuthenticated, RateLimited) as exc:
            outcomes.append(type(exc))
    assert outcomes == [NotAuthenticated] * 3 + [RateLimited] * 3
    assert hasher.calls == 3
    assert LoginAttempt.objects.filter(username=clerk_a.username.lower()).count() == 3


def test_successful_login_does_not_count_as_a_failure(clerk_a, settings):
    settings.SIYU_LOGIN_MAX_FAILURES = 2
    for _i in range(4):
        assert _attempt(clerk_a.username, TEST_PASSWORD, "10.0.0.8") == clerk_a
    assert LoginAttempt.objects.filter(succeeded=True).count() == 4
    with pytest.raises(NotAuthenticated):
        _attempt(clerk_a.username, "wrong", "10.0.0.8")
    assert _attempt(clerk_a.username, TEST_PASSWORD, "10.0.0.8") == clerk_a


def test_ip_limit_covers_many_usernames(clerk_a, settings):
    settings.SIYU_LOGIN_MAX_FAILURES = 1  # 4 failures per IP
    for i in range(4):
        with pytest.raises(NotAuthenticated):
            _attempt(f"nobody{i}", "wrong", "10.0.0.7")
    with pytest.raises(RateLimited):
        _attempt(clerk_a.username, TEST_PASSWORD, "10.0.0.7")
    assert _attempt(clerk_a.username, TEST_PASSWORD, "10.0.0.6") == clerk_a


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("known", [True, False], ids=["known-user", "unknown-user"])
def test_forty_parallel_wrong_logins_check_the_password_at_most_five_times(
    known, brand, store_a, clerk_a, monkeypatch, settings
):
    if not is_postgres():
        pytest.skip("needs PostgreSQL (real parallel connections)")
    settings.SIYU_LOGIN_MAX_FAILURES = 5
    hasher = CountingHasher(monkeypatch)
    username = clerk_a.username if known else "no-such-staff"
    results = run_threads(40, lambda i: _attempt(username, f"wrong-{i}", f"10.1.0.{i}"))
    kinds = [type(r).__name__ for r in results]
    assert kinds.count("NotAuthenticated") == 5, kinds
    assert kinds.count("RateLimited") == 35, kinds
    assert hasher.calls <= 5, hasher.calls
    assert LoginAttempt.objects.filter(username=username.lower(), succeeded=False).count() == 5


# --- group plan: the channel ---------------------------------------------------------------------


def test_channel_names_in_the_schema_are_the_channel_kinds():
    assert set(get_args(ChannelName)) == set(ChannelKind.values)


@pytest.mark.parametrize("channel", ["sms", "", "WEB", "x" * 40, 7, None])
def test_plan_accept_with_an_unknown_channel_is_400(as_manager, store_a, template, channel):
    response = as_manager.post(
        f"/stores/{store_a.pk}/group-plan/accept", {"template_id": template.pk, "channel": channel}
    )
    assert_error(response, 400, "invalid", "channel")
    response = as_manager.get(f"/stores/{store_a.pk}/group-plan", {"channel": channel or "nope"})
    assert_error(response, 400, "invalid", "channel")
    assert not Community.objects.exists()


def test_plan_accept_service_refuses_an_unknown_channel(manager_a, store_a, template):
    with pytest.raises(ValidationFailed) as caught:
        matrix.accept_plan(manager_a, store_a.pk, template.pk, channel="sms")
    assert caught.value.field == "channel"
