"""Gunicorn settings for ``siyu demo``: the master also starts ``siyu scheduler`` and stops it on exit,
so periodic jobs run without a Celery broker. Set SIYU_SCHEDULER=0 to run it elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

_scheduler: subprocess.Popen[bytes] | None = None


def when_ready(server: Any) -> None:
    global _scheduler
    if os.environ.get("SIYU_SCHEDULER", "1") == "1" and _scheduler is None:
        _scheduler = subprocess.Popen([sys.executable, "-m", "siyu.cli", "scheduler"])


def on_exit(server: Any) -> None:
    if _scheduler is not None and _scheduler.poll() is None:
        _scheduler.terminate()
        try:
            _scheduler.wait(10)
        except subprocess.TimeoutExpired:
            _scheduler.kill()


def post_worker_init(worker: Any) -> None:
    # Everything loaded so far (Django, the apps) lives as long as the worker: keep it out of the cyclic
    # garbage collector's scans, so full collections stay short and requests don't stall behind them.
    import gc

    gc.freeze()
