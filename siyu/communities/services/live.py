"""Live chat events per group: publish once, every open chat page of that group hears it.

With ``settings.REDIS_URL`` the events go through Redis pub/sub (channel ``siyu:community:<id>``), so every
server process sees the messages posted in any other. Without Redis an in-process broker is used: instant
within one process; other processes only learn of new messages by the chat stream's periodic database check
(see ``siyu.h5.views_chat``), which is why that check exists.

Events are plain JSON-able dicts, e.g. ``{"type": "message", "id": 42, "message": {...}}`` or
``{"type": "hidden", "id": 42}``. Delivery is best-effort: the database stays the source of truth and a
reconnecting page catches up from it (``Last-Event-ID``).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import transaction

logger = logging.getLogger("siyu.communities.live")

CHANNEL_PREFIX = "siyu:community:"
# A subscriber that falls this far behind is cut off; its page reconnects and catches up from the database.
_QUEUE_SIZE = 500
_CLOSED = object()


def channel_name(community_id: int) -> str:
    return f"{CHANNEL_PREFIX}{int(community_id)}"


class Subscription:
    """Events of one group for one listener. Use as a context manager, or call ``close()``.

    ``get(timeout)`` returns the next event, or None when nothing arrived within ``timeout`` seconds (the
    caller sends a keepalive). ``closed`` turns True when the subscription can deliver no more (closed, or cut
    off for falling behind): the caller should end its stream and let the client reconnect.
    """

    closed: bool = False

    def get(self, timeout: float) -> dict[str, Any] | None:
        raise NotImplementedError

    def close(self) -> None:
        self.closed = True

    def events(self, timeout: float) -> Iterator[dict[str, Any] | None]:
        """Yield events, and None after each ``timeout`` seconds of silence, until closed."""
        while not self.closed:
            yield self.get(timeout)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- in-process broker -----------------------------------------------------------------------------


class _LocalSubscription(Subscription):
    def __init__(self, broker: _LocalBroker, community_id: int) -> None:
        self._broker = broker
        self._community_id = community_id
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_SIZE)

    def get(self, timeout: float) -> dict[str, Any] | None:
        if self.closed:
            return None
        try:
            item = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _CLOSED:
            self.closed = True
            return None
        return dict(item)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._broker.remove(self._community_id, self)


class _LocalBroker:
    """Thread-safe fan-out to one bounded queue per subscriber."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[int, set[_LocalSubscription]] = {}

    def subscribe(self, community_id: int) -> _LocalSubscription:
        sub = _LocalSubscription(self, community_id)
        with self._lock:
            self._subscribers.setdefault(community_id, set()).add(sub)
        return sub

    def remove(self, community_id: int, sub: _LocalSubscription) -> None:
        with self._lock:
            subs = self._subscribers.get(community_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[community_id]

    def publish(self, community_id: int, event: dict[str, Any]) -> int:
        with self._lock:
            subs = list(self._subscribers.get(community_id, ()))
        for sub in subs:
            try:
                sub.queue.put_nowait(event)
            except queue.Full:
                # Too slow to keep up: drop it rather than block the publisher; it resumes from the database.
                self.remove(community_id, sub)
                _drain_and_close(sub.queue)
        return len(subs)

    def subscriber_count(self, community_id: int) -> int:
        with self._lock:
            return len(self._subscribers.get(community_id, ()))


def _drain_and_close(q: queue.Queue[Any]) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            break
    q.put_nowait(_CLOSED)


_local = _LocalBroker()


# --- Redis -------------------------------------------------------------------------------------------

_redis_lock = threading.Lock()
_redis_clients: dict[str, Any] = {}


def _redis() -> Any:
    import redis  # only needed when REDIS_URL is set

    url = settings.REDIS_URL
    with _redis_lock:
        client = _redis_clients.get(url)
        if client is None:
            # Short timeouts: a stalled Redis must not hang a request that is only announcing a message.
            client = redis.Redis.from_url(
                url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
            )
            _redis_clients[url] = client
        return client


class _RedisSubscription(Subscription):
    def __init__(self, community_id: int) -> None:
        # Keep the client: its pool owns the pub/sub connection and closes it when collected.
        self._client = _redis()
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(channel_name(community_id))

    def get(self, timeout: float) -> dict[str, Any] | None:
        if self.closed:
            return None
        try:
            raw = self._pubsub.get_message(timeout=timeout)
        except Exception:  # connection lost: end the stream; the client reconnects and catches up
            logger.warning("Redis subscription lost", exc_info=True)
            self.close()
            return None
        if raw is None or raw.get("type") != "message":
            return None
        try:
            event = json.loads(raw["data"])
        except (TypeError, ValueError):
            logger.warning("Ignoring a malformed live event on %s", raw.get("channel"))
            return None
        return event if isinstance(event, dict) else None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._pubsub.close()
            except Exception:  # already gone; nothing to release
                logger.debug("Closing a Redis subscription failed", exc_info=True)


# --- public API ------------------------------------------------------------------------------------


def uses_redis() -> bool:
    return bool(getattr(settings, "REDIS_URL", ""))


def publish(community_id: int, event: dict[str, Any]) -> None:
    """Send ``event`` to every current subscriber of the group, in every process when Redis is configured.

    Never raises for a broker failure (it is logged): the message is already stored and pages catch up
    from the database. Call it after commit — ``publish_after_commit`` does that — so no one is told about a
    message that then rolls back.
    """
    if uses_redis():
        try:
            _redis().publish(channel_name(community_id), json.dumps(event, ensure_ascii=False))
        except Exception:
            logger.warning("Could not publish a live event for community %s", community_id, exc_info=True)
        return
    _local.publish(int(community_id), event)


def publish_after_commit(community_id: int, event: dict[str, Any]) -> None:
    """``publish`` after the current transaction commits (at once outside one); nothing on rollback."""
    transaction.on_commit(lambda: publish(community_id, event), robust=True)


def subscribe(community_id: int) -> Subscription:
    """Start listening to one group's events. Subscribe BEFORE reading the backlog from the database, so that
    nothing committed in between is missed (duplicates are possible; listeners drop ids they already sent)."""
    if uses_redis():
        return _RedisSubscription(int(community_id))
    return _local.subscribe(int(community_id))
