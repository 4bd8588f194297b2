"""``siyu scheduler``: run the periodic jobs in a loop (the no-broker stand-in for Celery beat)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from siyu.common.periodic import JOBS, run_job


class Command(BaseCommand):
    help = "Run Siyu's periodic jobs (outbox dispatch, scheduled posts) until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run every job once and exit.")
        parser.add_argument(
            "--nice",
            type=int,
            default=int(os.environ.get("SIYU_SCHEDULER_NICE", "10")),
            help="Lower this process's CPU priority by this much (default 10; 0 keeps it): background work "
            "such as writing flash-sale orders behind must not slow down members' requests.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        # Only the long-running loop yields CPU; ``--once`` (cron, tests) runs in its caller's process.
        if options["nice"] > 0 and not options["once"] and hasattr(os, "nice"):
            os.nice(min(options["nice"], 19))
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        next_run = {job.name: 0.0 for job in JOBS}
        while not stopping:
            now = time.monotonic()
            for job in JOBS:
                if now < next_run[job.name]:
                    continue
                next_run[job.name] = now + job.every_seconds
                close_old_connections()
                try:
                    result = run_job(job.name)
                except Exception as exc:  # logged by run_job; keep the other jobs running
                    self.stderr.write(f"{job.name}: {exc}")
                    continue
                if options["verbosity"] > 1 or options["once"]:
                    self.stdout.write(f"{job.name}: {result}")
            if options["once"]:
                return
            time.sleep(0.5)
