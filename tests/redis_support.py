"""A real Redis for the tests that need one: where it is, whether it answers, and clearing a key prefix.

``SIYU_TEST_REDIS_URL`` wins, then ``REDIS_URL``, then redis://127.0.0.1:6379/0. Tests use key prefixes of
their own (``unique_prefix()``) and remove them afterwards, so parallel runs on one Redis do not meet.
"""

from __future__ import annotations

import os
import uuid

import redis

REDIS_URL = os.environ.get("SIYU_TEST_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def redis_reachable() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def unique_prefix() -> str:
    """A key prefix no other test (or test run) uses: ``$SIYU_FLASH_REDIS_PREFIX`` (default siyu-test) + a
    random part."""
    base = os.environ.get("SIYU_FLASH_REDIS_PREFIX") or "siyu-test"
    return f"{base}:{uuid.uuid4().hex[:12]}"


def flush_prefix(prefix: str) -> int:
    """Delete every Redis key under ``prefix`` (what a Redis restart without persistence does)."""
    client = redis.Redis.from_url(REDIS_URL)
    names = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if names:
        client.delete(*names)
    return len(names)
