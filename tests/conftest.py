from __future__ import annotations

import os

import pytest

from tests.factories import BrandFactory, MemberFactory, StaffFactory, StoreFactory

pytest_plugins = [
    "tests.api_support",
    "tests.community_support",
    "tests.flash_support",
    "tests.group_buy_support",
    "tests.wecom_support",
    "tests.sidebar_support",
    "tests.fakes.sms",
    "tests.fakes.wechat",
    "tests.fakes.wechatpay",
]

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# around it are still synchronous, so Django's async-safety guard does not apply.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _english_messages(settings):
    """Tests assert on the English source strings; Siyu's real default (zh-hans) is tested in test_i18n.py."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path_factory):
    """Uploaded and generated pictures go to a temporary MEDIA_ROOT, never the developer's var/."""
    settings.MEDIA_ROOT = str(tmp_path_factory.getbasetemp() / "media")


@pytest.fixture
def brand(db):
    return BrandFactory()


@pytest.fixture
def store_a(brand):
    return StoreFactory(brand=brand, code="A001", name="朝阳大悦城店")


@pytest.fixture
def store_b(brand):
    return StoreFactory(brand=brand, code="B001", name="西单大悦城店")


@pytest.fixture
def hq_admin(brand):
    return StaffFactory(brand=brand, username="hqadmin", role="hq_admin", can_reveal_mobile=True)


@pytest.fixture
def hq_operator(brand):
    return StaffFactory(brand=brand, username="hqop", role="hq_operator")


@pytest.fixture
def clerk_a(brand, store_a):
    return StaffFactory(brand=brand, username="clerka", role="clerk", stores=[store_a])


@pytest.fixture
def manager_a(brand, store_a):
    return StaffFactory(brand=brand, username="managera", role="store_manager", stores=[store_a])


@pytest.fixture
def member_a(brand, store_a):
    return MemberFactory(brand=brand, home_store=store_a, mobile="13812341234", name="王小明")


@pytest.fixture
def member_b(brand, store_b):
    return MemberFactory(brand=brand, home_store=store_b, mobile="13900001111", name="李小红")


@pytest.fixture
def sandbox(settings):
    """Orders are paid through the SANDBOX cashier (online payment, no provider)."""
    settings.SIYU_PAYMENT_PROVIDER = "sandbox"
