"""``siyu bench seed-demo``: time to build the demo chain (runs inside the scratch database)."""

from __future__ import annotations

import time
from typing import Any

from django.db import connection

from siyu.tooling.demo.chain import DEFAULT_PASSWORD, seed_demo


def run(*, stores: int, members: int, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    summary = seed_demo(stores=stores, members=members, seed=seed, password=DEFAULT_PASSWORD)
    seconds = time.perf_counter() - started
    return {
        "bench": "seed-demo",
        "backend": connection.vendor,
        "stores": summary.stores,
        "members": summary.members,
        "events": summary.events,
        "seconds": round(seconds, 2),
        "members_per_s": round(summary.members / seconds, 1) if seconds else None,
    }
