"""Running work in real parallel threads (each with its own database connection) for race tests."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections


def run_threads(n: int, work: Callable[[int], object]) -> list[object]:
    """Start ``n`` threads that call ``work(i)`` at the same moment (a barrier); return every outcome — the
    value, or the exception raised — in completion order. Each thread closes its connections."""
    barrier = threading.Barrier(n)
    results: list[object] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait()
            out: object = work(i)
        except Exception as exc:  # the outcome is what the test counts
            out = exc
        finally:
            connections.close_all()
        with lock:
            results.append(out)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def run_pooled(tasks: int, work: Callable[[int], object], threads: int = 16) -> list[object]:
    """Run ``work(0…tasks-1)`` spread over ``threads`` threads (each with its own database connections), all
    starting together; return each task's result or exception, in task order (for more tasks than threads)."""
    barrier = threading.Barrier(threads)
    results: list[object] = [None] * tasks

    def runner(t: int) -> None:
        try:
            barrier.wait()
            for i in range(t, tasks, threads):
                try:
                    results[i] = work(i)
                except Exception as exc:  # the outcome is what the test counts
                    results[i] = exc
        finally:
            connections.close_all()

    pool = [threading.Thread(target=runner, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(120)
    return results


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def needs_postgres() -> None:
    """Skip the calling test unless the database is PostgreSQL (SQLite serialises writers: no real race)."""
    if not is_postgres():
        pytest.skip("needs PostgreSQL (real parallel connections)")
