"""Background work heals itself: the server's scheduler comes back after ``kill -9`` and the flash-sale
write-behind resumes, so every admitted purchase becomes one order."""

from __future__ import annotations

import json
import os
import signal

import pytest

from siyu.tooling.bench import http_load
from siyu.tooling.bench.flash_sale_run import _step, _wait_ready
from tests.server_support import serving, wait_for

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")


def test_kill_9_of_the_scheduler_during_a_flash_sale_heals(tmp_path):
    with serving(tmp_path) as served:
        tickets_path = tmp_path / "tickets.json"
        setup = _step(served.env, "seed", buyers=80, stock=60, file=str(tickets_path))
        tickets = json.loads(tickets_path.read_text())
        _wait_ready(f"{served.url}/h5/flash/{setup['campaign']}/status/", served.process)
        first = served.scheduler_pid()

        before = http_load.load(served.url, setup, tickets[:40], concurrency=8)
        os.kill(first, signal.SIGKILL)  # the write-behind stops here …
        during = http_load.load(served.url, setup, tickets[40:], concurrency=8, start=40)

        # … and comes back by itself: a new scheduler holds the lock, the log says why.
        second = wait_for(lambda: (pid := served.scheduler_pid()) != first and pid, timeout=30)
        assert second != first
        assert "scheduler exited (signal 9), restarted" in served.log

        reserved = sorted(before.reserved_keys | during.reserved_keys)
        assert len(reserved) == 60  # every unit sold to someone, over both halves
        keys_path = tmp_path / "reserved.json"
        keys_path.write_text(json.dumps(reserved))
        # The audit only reads: whatever it finds written, the restarted scheduler wrote.
        audit = _step(
            served.env, "audit", campaign=setup["campaign"], file=str(keys_path), **{"audit-timeout": 90}
        )
    assert audit["unwritten"] == 0 and audit["lost"] == 0, audit
    assert audit["orders"] == len(reserved) == audit["units_sold"]
    assert (audit["duplicates"], audit["oversold"], audit["limit_violations"]) == (0, 0, 0)
    assert audit["reconciled"] is True, audit["reconcile"]
