"""The few tables of ``common``: the record of periodic jobs' runs (``siyu/common/periodic.py``)."""

from __future__ import annotations

from django.db import models


class JobRun(models.Model):
    """The last run of one periodic job (one row per job name), written by ``periodic.run_job`` in every
    process that runs jobs (``siyu scheduler``, Celery workers). Read by the console's background-work page
    to show when each job last ran, how it ended, and whether it is overdue."""

    class Outcome(models.TextChoices):
        OK = "ok", "ok"
        FAILED = "failed", "failed"

    name = models.CharField(max_length=60, unique=True)
    last_started_at = models.DateTimeField()
    last_finished_at = models.DateTimeField()
    last_outcome = models.CharField(max_length=10, choices=Outcome.choices)
    last_duration_ms = models.PositiveIntegerField(default=0)
    last_result = models.CharField(max_length=200, blank=True)
    last_ok_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    host = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}: {self.last_outcome} at {self.last_finished_at:%Y-%m-%d %H:%M:%S}"
