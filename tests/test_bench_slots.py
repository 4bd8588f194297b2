"""``siyu bench slots``: the flash-sale benchmark selling ¥11 recharge-slot deposits, audited from the
database (small sizes: this checks the harness and the invariants, not the speed)."""

import json

from django.core.management import call_command


def test_bench_slots_sells_every_slot_once(capsys, monkeypatch):
    monkeypatch.setenv("SIYU_BENCH_SETTLE_SECONDS", "0")
    call_command("bench", "slots", "--buyers", "50", "--stock", "15", "--concurrency", "8", "--no-redis")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["bench"] == "slots" and result["backend"] == "sqlite"
    assert (result["slots"], result["slots_sold"], result["sold_equals_slots"]) == (15, 15, True)
    assert (result["orders"], result["oversold"], result["duplicates"], result["limit_violations"]) == (
        15,
        0,
        0,
        0,
    )
    assert result["errors"] == 0 and result["lost"] == 0 and result["reconciled"] is True
