import pytest
from django.test import RequestFactory

from siyu.common.errors import NotAuthenticated, NotFound, RateLimited
from siyu.org.services import access, login, tokens
from tests.factories import TEST_PASSWORD


def test_store_scope(hq_admin, clerk_a, store_a, store_b):
    assert access.store_scope(hq_admin) is None
    assert access.store_scope(clerk_a) == {store_a.pk}
    assert list(access.visible_stores(clerk_a)) == [store_a]
    assert access.can_access_store(clerk_a, store_a.pk) and not access.can_access_store(clerk_a, store_b.pk)


def test_tokens_roundtrip_and_revoke(clerk_a, hq_admin):
    token, secret = tokens.create_token(clerk_a, "pos sync")
    assert secret.startswith("sy_") and token.key_hash != secret
    assert tokens.authenticate_token(secret).staff == clerk_a
    assert tokens.authenticate_token(secret + "x") is None
    tokens.revoke_token(clerk_a, token.pk)
    assert tokens.authenticate_token(secret) is None
    other, _secret = tokens.create_token(hq_admin, "admin")
    with pytest.raises(NotFound):
        tokens.revoke_token(clerk_a, other.pk)


def test_login_throttled_after_failures(clerk_a, settings):
    settings.SIYU_LOGIN_MAX_FAILURES = 3
    request = RequestFactory().post("/login/", REMOTE_ADDR="10.0.0.1")
    for _ in range(3):
        with pytest.raises(NotAuthenticated):
            login.staff_login(request, clerk_a.username, "wrong")
    # Even the right password is refused while locked out.
    with pytest.raises(RateLimited):
        login.staff_login(request, clerk_a.username, TEST_PASSWORD)


def test_login_ok(clerk_a):
    request = RequestFactory().post("/login/", REMOTE_ADDR="10.0.0.2")
    assert login.staff_login(request, clerk_a.username, TEST_PASSWORD) == clerk_a


def test_passwords_are_argon2(clerk_a):
    assert clerk_a.password.startswith("argon2")
