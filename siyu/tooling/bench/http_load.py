"""The HTTP client of ``siyu bench flash-sale`` (runs in the parent process, no database): an asyncio
HTTP/1.1 keep-alive client with ``concurrency`` connections that sends every buyer's purchase — plus, for
every tenth buyer, the same request again (a retry: must not buy twice) and a second purchase with a new key
(over the limit) — to ``POST /h5/flash/<id>/buy/`` and times each answer."""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

RETRY_EVERY = 10


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)
    reserved_keys: set[str] = field(default_factory=set)
    seconds: float = 0.0

    def count(self, code: str) -> None:
        self.codes[code] = self.codes.get(code, 0) + 1


def _requests(setup: dict[str, Any], tickets: list[list[Any]], seed_: int, start: int = 0) -> list[bytes]:
    path = f"/h5/flash/{setup['campaign']}/buy/"
    out: list[bytes] = []
    for i, (_member_id, ticket) in enumerate(tickets, start=start):
        keys = [f"b{i}-1"]
        if i % RETRY_EVERY == 0:
            keys += [f"b{i}-1", f"b{i}-2"]  # a retry of the same purchase, then a second purchase
        for key in keys:
            body = json.dumps(
                {"item": setup["item"], "quantity": 1, "store": setup["store"], "key": key}
            ).encode()
            out.append(
                b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                b"X-Siyu-Ticket: %s\r\nContent-Length: %d\r\n\r\n%s"
                % (path.encode(), ticket.encode(), len(body), body)
            )
    random.Random(seed_).shuffle(out)
    return out


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes, bool]:
    """Send one request on a keep-alive connection; (status, body, server closes)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    close = False
    for line in head.split(b"\r\n")[1:]:
        name, _sep, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    body = await reader.readexactly(length) if length else b""
    return int(head[9:12]), body, close


async def _client(
    host: str, port: int, queue: list[bytes], result: LoadResult, warmup: bytes, ready: asyncio.Barrier
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        # Connected and warmed up (a purchase of an unknown item: ticket, config, no stock) before the clock.
        await _exchange(reader, writer, warmup)
        await ready.wait()
        while queue:
            request = queue.pop()
            started = time.perf_counter()
            try:
                status, body, close = await _exchange(reader, writer, request)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                result.count("transport_error")
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            result.latencies.append(time.perf_counter() - started)
            if status == 200:
                result.count("reserved")
                result.reserved_keys.add(json.loads(body)["key"])
            else:
                try:
                    code = str(json.loads(body).get("code", status))
                except ValueError:
                    code = str(status)
                result.count(code)
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


def load(
    url: str, setup: dict[str, Any], tickets: list[list[Any]], *, concurrency: int, start: int = 0
) -> LoadResult:
    """Send every purchase over ``concurrency`` keep-alive connections; return codes and latencies.
    ``start``: the index of ``tickets[0]`` among all the run's buyers (purchase keys are ``b<index>-…``),
    for a run sent in several parts."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError("only http:// URLs can be benchmarked")
    queue = _requests(setup, tickets, seed_=1, start=start)
    result = LoadResult()

    warmup = _requests({**setup, "item": 2**62}, tickets[:1], seed_=1)[0]

    async def run() -> None:
        ready = asyncio.Barrier(concurrency + 1)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        clients = [
            asyncio.create_task(_client(host, port, queue, result, warmup, ready)) for _ in range(concurrency)
        ]
        await ready.wait()
        started = time.perf_counter()
        await asyncio.gather(*clients)
        result.seconds = time.perf_counter() - started

    asyncio.run(run())
    return result


def summarise(result: LoadResult) -> dict[str, Any]:
    lat = sorted(result.latencies)

    def pct(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

    answered = sum(
        result.codes.get(c, 0) for c in ("reserved", "sold_out", "not_enough_left", "limit_reached")
    )
    attempts = sum(result.codes.values())
    return {
        "attempts": attempts,
        "answered": answered,
        "client_reserved": result.codes.get("reserved", 0),
        "sold_out": result.codes.get("sold_out", 0) + result.codes.get("not_enough_left", 0),
        "limit_refused": result.codes.get("limit_reached", 0),
        "errors": attempts - answered,
        "error_codes": {
            k: v
            for k, v in result.codes.items()
            if k not in ("reserved", "sold_out", "not_enough_left", "limit_reached")
        },
        "seconds": round(result.seconds, 2),
        "attempts_per_s": round(answered / result.seconds, 1) if result.seconds else None,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
    }


# --- any list of prepared requests (used by ``siyu bench loyalty``) --------------------------------------


@dataclass
class Answers:
    """Per request, in the order sent: (status, body) or None for a transport error; and each latency."""

    answers: list[tuple[int, bytes] | None] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0


def send_all(url: str, requests: list[bytes], *, concurrency: int, warmup: bytes) -> Answers:
    """Send ``requests`` (raw HTTP/1.1) over ``concurrency`` keep-alive connections, each connection warmed
    up with ``warmup`` before the clock starts; return every answer and latency."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError("only http:// URLs can be benchmarked")
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    out = Answers(answers=[None] * len(requests))
    queue = list(enumerate(requests))
    queue.reverse()

    async def client(ready: asyncio.Barrier) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            await _exchange(reader, writer, warmup)
            await ready.wait()
            while queue:
                index, request = queue.pop()
                started = time.perf_counter()
                try:
                    status, body, close = await _exchange(reader, writer, request)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                out.latencies.append(time.perf_counter() - started)
                out.answers[index] = (status, body)
                if close:
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
        finally:
            writer.close()

    async def run() -> None:
        ready = asyncio.Barrier(concurrency + 1)
        clients = [asyncio.create_task(client(ready)) for _ in range(concurrency)]
        await ready.wait()
        started = time.perf_counter()
        await asyncio.gather(*clients)
        out.seconds = time.perf_counter() - started

    asyncio.run(run())
    return out


def percentiles(latencies: list[float]) -> dict[str, float | None]:
    lat = sorted(latencies)

    def pct(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

    return {"p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99)}
