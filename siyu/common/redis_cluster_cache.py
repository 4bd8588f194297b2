"""Django's Redis cache on a Redis Cluster (``SIYU_REDIS_CLUSTER=1``).

Django's ``RedisCache`` talks to one server; on a cluster a key whose slot lives on another node answers
MOVED. This backend keeps Django's serializer and single-key commands but sends them through one
``redis.cluster.RedisCluster`` per process (seeded from ``LOCATION``, the other nodes discovered), and splits
the multi-key ones (``get_many``, ``set_many``, ``delete_many``) by slot.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class RedisClusterCacheClient(RedisCacheClient):
    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        self._seed = servers[0]
        self._codec: Any = vars(self)["_serializer"]  # Django's serializer, as the parent chose it
        self._cluster: Any = None
        self._cluster_lock = threading.Lock()
        self._cluster_options = {k: v for k, v in options.items() if k not in {"serializer", "parser_class"}}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        if self._cluster is None:
            import redis.cluster

            with self._cluster_lock:
                if self._cluster is None:
                    self._cluster = redis.cluster.RedisCluster.from_url(self._seed, **self._cluster_options)
        return self._cluster

    def get_many(self, keys: Any) -> dict[Any, Any]:
        keys = list(keys)
        if not keys:
            return {}
        values = self.get_client(None).mget_nonatomic(keys)
        return {k: self._codec.loads(v) for k, v in zip(keys, values, strict=True) if v is not None}

    def set_many(self, data: Mapping[Any, Any], timeout: Any) -> None:
        client = self.get_client(None, write=True)
        pipe = client.pipeline(transaction=False)  # commands grouped by node, one key each
        for key, value in data.items():
            if timeout is not None and timeout <= 0:
                pipe.delete(key)  # Django's meaning of a zero timeout: do not keep it
            elif timeout is None:
                pipe.set(key, self._codec.dumps(value))
            else:
                pipe.set(key, self._codec.dumps(value), ex=timeout)
        pipe.execute()

    def delete_many(self, keys: Any) -> None:
        client = self.get_client(None, write=True)
        for key in keys:
            client.delete(key)


class RedisClusterCache(RedisCache):
    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisClusterCacheClient
