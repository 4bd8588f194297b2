"""Running work in real parallel threads (each with its own database connection) for race tests."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connections


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
