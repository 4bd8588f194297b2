"""Fixtures shared by the flash-sale tests (registered as a pytest plugin in tests/conftest.py).

``backend`` runs a test once on each admission backend (the database, and a real Redis under a key prefix
of its own, skipped when Redis does not answer); ``flash_caches`` empties the flash caches around a test —
modules that admit use it with ``pytestmark = pytest.mark.usefixtures("flash_caches")``.
"""

from __future__ import annotations

import pytest

from siyu.campaigns.services import flash_admission, flash_config
from siyu.catalog.models import Sku
from tests.factories import flash_cup_sku, sale_skus
from tests.redis_support import REDIS_URL, flush_prefix, redis_reachable, unique_prefix


@pytest.fixture
def flash_caches():
    flash_config.clear_caches()
    flash_admission._status_cache.clear()
    yield
    flash_config.clear_caches()
    flash_admission._status_cache.clear()


@pytest.fixture
def database_backend(settings):
    """Admission on the database (``REDIS_URL`` cleared)."""
    settings.REDIS_URL = ""
    flash_config.clear_caches()
    return "database"


@pytest.fixture
def database_admission(database_backend):
    """``database_backend`` for modules that use it throughout (``usefixtures``); caches cleared after."""
    yield database_backend
    flash_config.clear_caches()


@pytest.fixture
def redis_backend(settings):
    """Admission on a real Redis under a fresh key prefix, removed afterwards; skips without Redis."""
    if not redis_reachable():
        pytest.skip("Redis is not reachable")
    prefix = unique_prefix()
    settings.REDIS_URL = REDIS_URL
    settings.SIYU_FLASH_REDIS_PREFIX = prefix
    flash_config.clear_caches()
    yield "redis"
    flush_prefix(prefix)


@pytest.fixture(params=["database", "redis"])
def backend(request):
    return request.getfixturevalue(f"{request.param}_backend")


@pytest.fixture
def sku(hq_admin, store_a, store_b) -> Sku:
    """FLASH-CUP (59.00) published to stores A and B."""
    return flash_cup_sku(hq_admin)


@pytest.fixture
def skus(hq_admin, store_a, store_b) -> dict[str, Sku]:
    """CUP-W / CUP-B published everywhere, CANDLE at store B only (``factories.sale_skus``)."""
    return sale_skus(hq_admin)
