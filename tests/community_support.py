"""Fixtures shared by the community tests (registered as a pytest plugin in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.factories import make_template, open_web_group


@pytest.fixture
def template(hq_admin):
    """An HQ group template (宝妈群) without an entry threshold."""
    return make_template(hq_admin)


@pytest.fixture
def group_a(hq_admin, store_a, template):
    """A web group of ``template`` in store A."""
    return open_web_group(hq_admin, store_a, template)


@pytest.fixture
def group_b(hq_admin, store_b, template):
    """A web group of ``template`` in store B."""
    return open_web_group(hq_admin, store_b, template)
