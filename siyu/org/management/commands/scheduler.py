"""``siyu scheduler``: run the periodic jobs in a loop (the no-broker stand-in for Celery beat).

One scheduler at a time per installation: the loop holds ``<SIYU_VAR_DIR>/scheduler.lock``
(``periodic.SchedulerLock``); a second ``siyu scheduler`` refuses while it runs, or with ``--wait`` waits
for it to stop. ``--supervise`` keeps a scheduler alive: it runs ``siyu scheduler --wait`` as its child and
starts it again, with a growing pause when it keeps dying, whenever it exits — ``kill -9`` included —
logging why ("scheduler exited (signal 9), restarted"). ``siyu demo``'s gunicorn master runs this
supervisor (``siyu/gunicorn_conf.py``); docs/operations.md lists the production equivalents.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from siyu.common.periodic import JOBS, run_job, scheduler_lock

logger = logging.getLogger("siyu.periodic")

# Restart pauses of a child that keeps dying: 1 s, 2 s, 4 s … at most 30 s; a child that ran a minute
# counts as healthy again (the next death restarts after 1 s).
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
HEALTHY_AFTER = 60.0
PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """In a child (``preexec_fn``): receive ``sig`` when the parent dies, so no scheduler outlives its
    supervisor (Linux; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: nothing
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)


def describe_exit(returncode: int) -> str:
    """ "signal 9" for a process killed by SIGKILL, "code 1" for one that exited with status 1."""
    if returncode < 0:
        return f"signal {-returncode}"
    return f"code {returncode}"


class Command(BaseCommand):
    help = "Run Siyu's periodic jobs (outbox dispatch, order write-behind, expiry, relay…) until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run every job once and exit.")
        parser.add_argument(
            "--wait",
            action="store_true",
            help="When another scheduler is running, wait for it to stop instead of refusing.",
        )
        parser.add_argument(
            "--supervise",
            action="store_true",
            help="Keep a scheduler running: start it as a child and restart it whenever it exits.",
        )
        parser.add_argument(
            "--nice",
            type=int,
            default=int(os.environ.get("SIYU_SCHEDULER_NICE", "10")),
            help="Lower this process's CPU priority by this much (default 10; 0 keeps it): background work "
            "such as writing flash-sale orders behind must not slow down members' requests.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["supervise"]:
            self.supervise(options)
            return
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        lock = scheduler_lock()
        if not lock.acquire(wait=False):
            if not options["wait"]:
                raise CommandError(
                    f"Another scheduler is already running (pid {lock.holder()}); "
                    "only one may run at a time. Use --wait to wait for it to stop."
                )
            self.stderr.write(f"waiting for the running scheduler (pid {lock.holder()}) to stop")
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            lock.acquire(wait=True)
        try:
            # Only the long-running loop yields CPU; ``--once`` (cron, tests) runs in its caller's process.
            if options["nice"] > 0 and not options["once"] and hasattr(os, "nice"):
                os.nice(min(options["nice"], 19))
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            next_run = {job.name: 0.0 for job in JOBS}
            while not stopping:
                now = time.monotonic()
                for job in JOBS:
                    if now < next_run[job.name] or stopping:
                        continue
                    next_run[job.name] = now + job.every_seconds
                    if not options["once"]:  # ``--once`` runs in its caller's process, on its connections
                        close_old_connections()
                    try:
                        result = run_job(job.name)
                    except Exception as exc:  # logged and recorded by run_job; keep the other jobs running
                        self.stderr.write(f"{job.name}: {exc}")
                        continue
                    if options["verbosity"] > 1 or options["once"]:
                        self.stdout.write(f"{job.name}: {result}")
                if options["once"]:
                    return
                time.sleep(0.5)
        finally:
            lock.release()

    def supervise(self, options: dict[str, Any]) -> None:
        """Run ``siyu scheduler --wait`` as a child until stopped (SIGTERM/SIGINT, passed on to the child),
        restarting it whenever it exits."""
        argv = [sys.executable, "-m", "siyu.cli", "scheduler", "--wait", "--nice", str(options["nice"])]
        stopping = False
        child: subprocess.Popen[bytes] | None = None

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True
            if child is not None and child.poll() is None:
                child.terminate()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        pause = BACKOFF_FIRST
        while not stopping:
            started = time.monotonic()
            child = subprocess.Popen(argv, preexec_fn=die_with_parent)  # noqa: S603 -- our own CLI
            self.stderr.write(f"scheduler started (pid {child.pid})")
            while True:
                try:
                    code = child.wait()
                    break
                except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
                    continue
            if stopping:
                break
            if time.monotonic() - started >= HEALTHY_AFTER:
                pause = BACKOFF_FIRST
            message = f"scheduler exited ({describe_exit(code)}), restarted"
            logger.error("%s after %.0f s", message, pause)
            deadline = time.monotonic() + pause
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.1)
            pause = min(pause * 2, BACKOFF_MAX)
        if child is not None and child.poll() is None:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
