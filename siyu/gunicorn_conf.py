"""Gunicorn settings for ``siyu demo`` (and the flash-sale benchmark's server): the master also keeps the
periodic-job scheduler alive, so periodic jobs run without a Celery broker. Set SIYU_SCHEDULER=0 to run
them elsewhere (``siyu scheduler --supervise`` under systemd, or Celery beat: docs/operations.md).

What runs: the master starts ``siyu scheduler --supervise`` (the supervisor), which runs the scheduler
itself (``siyu scheduler --wait``) as its child and restarts it within seconds whenever it exits —
``kill -9`` included — logging "scheduler exited (signal 9), restarted". A watcher thread in the master
restarts the supervisor should it die in turn. The scheduler holds a file lock, so never two run at once.

Why two processes: the gunicorn master reaps every child of its own (``waitpid(-1)``) and reports any
that was killed as a worker "perhaps out of memory"; the supervisor, not the master, is the scheduler's
parent, so it sees the real exit status and says what happened.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

_lock = threading.Lock()
_stopping = threading.Event()
_supervisor: subprocess.Popen[bytes] | None = None
_watcher: threading.Thread | None = None

RESTART_PAUSE_FIRST = 1.0
RESTART_PAUSE_MAX = 30.0
HEALTHY_AFTER = 60.0


def _start_supervisor() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "siyu.cli", "scheduler", "--supervise"])


def _watch(server: Any) -> None:
    """Keep the supervisor running until the master exits (it is reaped by the master's SIGCHLD handler,
    so only "it is gone" is known here, not why)."""
    global _supervisor
    pause = RESTART_PAUSE_FIRST
    while not _stopping.is_set():
        with _lock:
            if _stopping.is_set():
                return
            _supervisor = _start_supervisor()
            proc = _supervisor
        started = time.monotonic()
        while proc.poll() is None and not _stopping.wait(0.5):
            pass
        if _stopping.is_set():
            return
        if time.monotonic() - started >= HEALTHY_AFTER:
            pause = RESTART_PAUSE_FIRST
        server.log.error("scheduler supervisor (pid %s) exited, restarted in %.0f s", proc.pid, pause)
        if _stopping.wait(pause):
            return
        pause = min(pause * 2, RESTART_PAUSE_MAX)


def when_ready(server: Any) -> None:
    global _watcher
    if os.environ.get("SIYU_SCHEDULER", "1") == "1" and _watcher is None:
        _watcher = threading.Thread(target=_watch, args=(server,), name="siyu-scheduler-watch", daemon=True)
        _watcher.start()


def on_exit(server: Any) -> None:
    _stopping.set()
    with _lock:
        proc = _supervisor
    if proc is not None and proc.poll() is None:
        proc.terminate()  # the supervisor stops its scheduler, which finishes the job it is running
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def post_worker_init(worker: Any) -> None:
    # Everything loaded so far (Django, the apps) lives as long as the worker: keep it out of the cyclic
    # garbage collector's scans, so full collections stay short and requests don't stall behind them.
    import gc

    gc.freeze()
