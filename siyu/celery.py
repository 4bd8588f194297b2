"""Celery app. With ``REDIS_URL`` set, tasks go through Redis and beat runs the periodic jobs
(``celery -A siyu worker -B``); without a broker, tasks run in-process (eager) and ``siyu scheduler``
runs the periodic jobs (``siyu demo`` starts it).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")

app = Celery("siyu")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.on_after_configure.connect
def _schedule_periodic_jobs(sender: Any, **kwargs: Any) -> None:
    from siyu.common.periodic import JOBS

    for job in JOBS:
        sender.add_periodic_task(job.every_seconds, run_periodic.s(job.name), name=job.name)


@app.task(name="siyu.run_periodic", ignore_result=True)
def run_periodic(name: str) -> None:
    from siyu.common.periodic import run_job

    run_job(name)
