import pytest
from django.test import RequestFactory

from siyu.catalog.services import products
from siyu.common.errors import NotAuthenticated, NotFound, PermissionDenied, RateLimited
from siyu.org.models import Role
from siyu.org.services import access, brand, login, staff_admin, tokens
from tests.factories import TEST_PASSWORD, BrandFactory


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


def test_rights_come_from_the_capability_table(monkeypatch, hq_admin, hq_operator, manager_a, clerk_a):
    """Catalog management, the staff list and revoking others' tokens ask ``access.CAPABILITIES``: giving a
    role a capability (and only that) changes what it may do, with no role compared anywhere else."""
    with pytest.raises(PermissionDenied, match="Only head office can manage products"):
        products.create_product(clerk_a, {"name": "杯"})
    assert list(staff_admin.list_staff(clerk_a)) == [clerk_a]
    assert set(staff_admin.list_staff(manager_a)) == {manager_a, clerk_a}
    assert set(staff_admin.list_staff(hq_operator)) >= {hq_admin, hq_operator, manager_a, clerk_a}
    token, _key = tokens.create_token(manager_a, "POS")
    with pytest.raises(NotFound):
        tokens.revoke_token(hq_operator, token.pk)  # an operator may revoke only its own tokens

    monkeypatch.setitem(access.CAPABILITIES, Role.CLERK, frozenset({"catalog.manage", "staff.list_all"}))
    monkeypatch.setitem(access.CAPABILITIES, Role.HQ_OPERATOR, frozenset({"tokens.manage"}))
    assert products.create_product(clerk_a, {"name": "杯"}).name == "杯"
    assert set(staff_admin.list_staff(clerk_a)) >= {hq_admin, manager_a, clerk_a}
    assert list(staff_admin.list_staff(hq_operator)) == [hq_operator]
    assert tokens.revoke_token(hq_operator, token.pk).revoked_at is not None


def test_brand_name_setting_first_then_the_brand_row(db, settings):
    settings.SIYU_BRAND_NAME = ""
    assert brand.brand_name() == ""
    BrandFactory(name="思域家居")
    assert brand.brand_name() == "思域家居"
    settings.SIYU_BRAND_NAME = "Siyu Home"
    assert brand.brand_name() == "Siyu Home"
