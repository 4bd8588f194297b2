"""Serving Siyu with gunicorn, as ``siyu demo`` and ``siyu bench flash-sale`` do."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from django.core.management.base import CommandError
from django.utils.translation import gettext as _


def gunicorn_path() -> str:
    """The gunicorn next to the running Python (the venv's), else the one on PATH."""
    candidate = Path(sys.executable).parent / "gunicorn"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("gunicorn")
    if not found:
        raise CommandError(_("gunicorn is not installed in this environment (pip install gunicorn)."))
    return found


def gunicorn_argv(executable: str, addr: str) -> list[str]:
    """The demo server: two gthread workers of sixteen threads on ``addr``, with Siyu's gunicorn config
    (its master starts the periodic-job scheduler)."""
    return [
        executable,
        "siyu.wsgi:application",
        "--config",
        "python:siyu.gunicorn_conf",
        "--bind",
        addr,
        "--workers",
        "2",
        "--threads",
        "16",
        "--worker-class",
        "gthread",
        "--access-logfile",
        "-",
    ]
