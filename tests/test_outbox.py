"""The outbox: idempotent enqueue, rate limits, retries with backoff, failure, scoping, concurrency."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from siyu.channels.connectors.base import RateLimit
from siyu.channels.connectors.web import WebConnector
from siyu.channels.models import Connector, OutboxMessage
from siyu.channels.services import outbox
from siyu.common.errors import NotFound, ValidationFailed
from siyu.communities.models import Community
from tests.fakes.telegram import BOT_TOKEN, FakeTelegram
from tests.race_support import is_postgres

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quiet_outbox(settings):
    settings.SIYU_OUTBOX_DISPATCH = "off"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dead_telegram(brand):
    # Nothing listens there: every call is a connection error (retryable).
    return Connector.objects.create(
        brand=brand,
        kind="telegram",
        name="bot",
        config={
            "bot_token": BOT_TOKEN,
            "webhook_secret": "s",
            "api_base": f"http://127.0.0.1:{_closed_port()}",
        },
    )


@pytest.fixture
def tg():
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def telegram(brand, tg):
    return Connector.objects.create(
        brand=brand,
        kind="telegram",
        name="bot",
        config={"bot_token": BOT_TOKEN, "webhook_secret": "s", "api_base": tg.url},
    )


def _soon(seconds: float = 1) -> timezone.datetime:
    return timezone.now() + timedelta(seconds=seconds)


def test_enqueue_is_idempotent(telegram):
    a = outbox.enqueue(
        telegram, "post", {"chat_id": -100, "text": "a"}, bucket="chat:-100", idempotency_key="k"
    )
    b = outbox.enqueue(
        telegram, "post", {"chat_id": -100, "text": "other"}, bucket="chat:-100", idempotency_key="k"
    )
    assert a.pk == b.pk and OutboxMessage.objects.count() == 1 and b.payload["text"] == "a"
    with pytest.raises(ValidationFailed):
        outbox.enqueue(telegram, "explode", {}, bucket="x", idempotency_key="k2")


def test_enqueue_schedules_dispatch_after_commit(telegram, tg, settings, django_capture_on_commit_callbacks):
    settings.SIYU_OUTBOX_DISPATCH = "inline"
    with django_capture_on_commit_callbacks(execute=True):
        row = outbox.enqueue(telegram, "post", {"chat_id": -100, "text": "a"}, bucket="", idempotency_key="k")
        assert not tg.requests  # nothing is sent before the commit
    row.refresh_from_db()
    assert row.status == "sent" and row.result == {"message_id": 101}


def test_web_connector_is_a_no_op_success(brand):
    web = Connector.objects.create(brand=brand, kind="web", name="web")
    assert isinstance(outbox.get_connector(web), WebConnector)
    row = outbox.enqueue(web, "post", {"chat_id": "1", "text": "x"}, bucket="", idempotency_key="w")
    assert outbox.dispatch_due(now=_soon()) == 1
    row.refresh_from_db()
    assert row.status == "sent"


def test_retries_with_backoff_then_failed(dead_telegram):
    row = outbox.enqueue(dead_telegram, "post", {"chat_id": 1, "text": "x"}, bucket="", idempotency_key="r")
    now = _soon()
    delays = []
    for attempt in range(1, row.max_attempts + 1):
        assert outbox.dispatch_due(now=now) == 1
        row.refresh_from_db()
        assert row.attempts == attempt
        if attempt < row.max_attempts:
            assert row.status == "pending" and "unreachable" in row.last_error and row.sent_at is None
            delays.append((row.next_attempt_at - now).total_seconds())
            # Not due before the backoff: nothing happens.
            assert outbox.dispatch_due(now=row.next_attempt_at - timedelta(seconds=1)) == 0
            now = row.next_attempt_at
    assert row.status == "failed"
    # Exponential with ±20 % jitter.
    for i, delay in enumerate(delays):
        nominal = outbox.BACKOFF_BASE_SECONDS * 2**i
        assert nominal * 0.8 - 0.01 <= delay <= nominal * 1.2 + 0.01
    assert outbox.dispatch_due(now=now + timedelta(days=1)) == 0


def test_telegram_429_retry_after_is_honoured(telegram, tg):
    tg.throttle = [37]
    row = outbox.enqueue(telegram, "post", {"chat_id": -100, "text": "x"}, bucket="", idempotency_key="t")
    now = _soon()
    outbox.dispatch_due(now=now)
    row.refresh_from_db()
    assert row.status == "pending" and row.attempts == 1
    assert row.next_attempt_at >= now + timedelta(seconds=37)
    assert outbox.dispatch_due(now=now + timedelta(seconds=36)) == 0
    outbox.dispatch_due(now=row.next_attempt_at)
    row.refresh_from_db()
    assert row.status == "sent"


def test_non_retryable_error_fails_at_once(telegram):
    row = outbox.enqueue(
        telegram, "post", {"chat_id": -100, "image_b64": "AAAA"}, bucket="", idempotency_key="u"
    )
    outbox.dispatch_due(now=_soon())
    row.refresh_from_db()
    assert row.status == "failed" and row.attempts == 1


def test_telegram_group_limit_20_per_minute(telegram, tg):
    for i in range(25):
        outbox.enqueue(
            telegram, "post", {"chat_id": -100, "text": f"m{i}"}, bucket="", idempotency_key=f"g{i}"
        )
    outbox.enqueue(telegram, "post", {"chat_id": -200, "text": "other"}, bucket="", idempotency_key="other")
    now = _soon()
    assert outbox.dispatch_due(now=now) == 21  # 20 to the busy group, 1 to the other
    delayed = OutboxMessage.objects.filter(status="pending")
    assert delayed.count() == 5
    assert all(r.next_attempt_at >= now + timedelta(seconds=60) and r.attempts == 0 for r in delayed)
    assert outbox.dispatch_due(now=now + timedelta(seconds=60)) == 5
    assert OutboxMessage.objects.filter(status="sent").count() == 26
    assert [m["text"] for m in tg.sent if m["chat_id"] == -100] == [f"m{i}" for i in range(25)]


def test_overall_limit_per_connector(telegram, tg, monkeypatch):
    from siyu.channels.connectors.telegram import TelegramConnector

    monkeypatch.setattr(TelegramConnector, "overall_rate_limit", RateLimit(3, 1.0))
    for i in range(5):
        outbox.enqueue(telegram, "post", {"chat_id": -i - 1, "text": "x"}, bucket="", idempotency_key=f"o{i}")
    now = _soon()
    assert outbox.dispatch_due(now=now) == 3
    assert outbox.dispatch_due(now=now + timedelta(seconds=1)) == 2


def test_failed_messages_are_scoped(telegram, store_a, store_b, hq_admin, clerk_a):
    def group(store, chat):
        return Community.objects.create(
            brand=store.brand,
            store=store,
            channel="telegram",
            connector=telegram,
            external_id=chat,
            name=chat,
            hard_cap=200000,
        )

    ga, gb = group(store_a, "-1"), group(store_b, "-2")
    for g in (ga, gb):
        OutboxMessage.objects.create(
            connector=telegram,
            community_id=g.pk,
            bucket="b",
            action="post",
            idempotency_key=f"f{g.pk}",
            status="failed",
        )
    assert outbox.failed_messages(hq_admin).count() == 2
    assert [m.community_id for m in outbox.failed_messages(clerk_a)] == [ga.pk]
    other = OutboxMessage.objects.get(community_id=gb.pk)
    with pytest.raises(NotFound):
        outbox.retry_message(clerk_a, other.pk)
    mine = outbox.retry_message(clerk_a, OutboxMessage.objects.get(community_id=ga.pk).pk)
    assert mine.status == "pending" and mine.attempts == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_send_each_row_once(brand, tg):
    if not is_postgres():
        pytest.skip("needs PostgreSQL (real parallel connections)")
    telegram = Connector.objects.create(
        brand=brand, kind="telegram", name="bot", config={"bot_token": BOT_TOKEN, "api_base": tg.url}
    )
    for i in range(25):
        outbox.enqueue(
            telegram, "post", {"chat_id": -100, "text": f"m{i}"}, bucket="", idempotency_key=f"c{i}"
        )
    for i in range(5):
        outbox.enqueue(
            telegram, "post", {"chat_id": -i - 1, "text": f"o{i}"}, bucket="", idempotency_key=f"d{i}"
        )
    now = _soon()
    results: list[int] = []

    def run() -> None:
        try:
            results.append(outbox.dispatch_due(now=now, limit=8))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Each row sent at most once, and the group's 20/min limit held across the parallel dispatchers.
    texts = [m["text"] for m in tg.sent]
    assert len(texts) == len(set(texts)) == sum(results)
    assert sum(1 for m in tg.sent if m["chat_id"] == -100) <= 20
    outbox.dispatch_due(now=now + timedelta(seconds=61), limit=100)
    outbox.dispatch_due(now=now + timedelta(seconds=122), limit=100)
    assert sorted(m["text"] for m in tg.sent) == sorted(
        [f"m{i}" for i in range(25)] + [f"o{i}" for i in range(5)]
    )
    assert OutboxMessage.objects.filter(status="sent").count() == 30
