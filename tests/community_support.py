"""Fixtures shared by the community tests (registered as a pytest plugin in tests/conftest.py)."""

from __future__ import annotations

import pytest

from siyu.communities.services.matrix import create_group_template, instantiate_template


@pytest.fixture
def template(hq_admin):
    """An HQ group template (宝妈群) without an entry threshold."""
    return create_group_template(hq_admin, {"name": "宝妈群", "base_name": "宝妈群", "theme": "mom"})


@pytest.fixture
def group_a(hq_admin, store_a, template):
    """A web group of ``template`` in store A."""
    return instantiate_template(hq_admin, store_id=store_a.pk, template_id=template.pk)[0]


@pytest.fixture
def group_b(hq_admin, store_b, template):
    """A web group of ``template`` in store B."""
    return instantiate_template(hq_admin, store_id=store_b.pk, template_id=template.pk)[0]
