"""A throw-away PostgreSQL database for one benchmark run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """Create an empty PostgreSQL database on ``server_url``'s server for one run; drop it after.
    Without a URL, yields "" (the run uses a scratch SQLite file in its own var dir)."""
    if not server_url:
        yield ""
        return
    parts = urlsplit(server_url)
    name = f"siyu_bench_{os.getpid()}"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
