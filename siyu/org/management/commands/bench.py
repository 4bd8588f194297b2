"""``siyu bench <name>``: benchmarks that print one JSON object.

Each benchmark runs against a throw-away SQLite database (or the PostgreSQL database given by
``--database-url``) in a child process, so the data you work with is never touched.

- ``siyu bench seed-demo [--stores 20 --members 16000 --seed 1]``: time to build the demo chain.
- ``siyu bench import [--rows 10000]``: time to import a POS member file, and to re-import it.
- ``siyu bench flash-sale [--buyers 5000 --stock 500 --concurrency 200] [--url URL] [--no-redis]``: members
  racing to buy in a flash sale over real HTTP (see ``siyu.campaigns.bench``). Without ``--url`` it starts
  its own server (gunicorn, as ``siyu demo`` does) on a scratch database; with ``--url`` it targets a
  running server that uses the same database and secret key as this environment. Redis is used when
  ``REDIS_URL`` (or ``--redis-url``) is set, unless ``--no-redis``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

BENCHES = ("seed-demo", "import", "flash-sale")


class Command(BaseCommand):
    help = "Run a benchmark and print its figures as JSON: " + ", ".join(BENCHES)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bench", choices=BENCHES)
        parser.add_argument("--stores", type=int, default=20)
        parser.add_argument("--members", type=int, default=16_000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--rows", type=int, default=10_000)
        parser.add_argument(
            "--database-url",
            default="",
            help="A PostgreSQL server URL: a scratch database is made there for the run and dropped after.",
        )
        parser.add_argument("--buyers", type=int, default=5000)
        parser.add_argument("--stock", type=int, default=500)
        parser.add_argument("--concurrency", type=int, default=200)
        parser.add_argument("--url", default="", help="flash-sale: target this running server.")
        parser.add_argument(
            "--redis-url", default="", help="flash-sale: use this Redis (default: REDIS_URL)."
        )
        parser.add_argument("--no-redis", action="store_true", help="flash-sale: admit in the database.")
        parser.add_argument("--workers", type=int, default=2, help="flash-sale: server processes.")
        parser.add_argument("--threads", type=int, default=16, help="flash-sale: threads per server process.")
        parser.add_argument("--inner", action="store_true", help="(internal) run inside the scratch database")
        parser.add_argument("--step", default="", help="(internal) flash-sale step")
        parser.add_argument("--file", default="", help="(internal) flash-sale data file")
        parser.add_argument("--campaign", type=int, default=0, help="(internal) flash-sale campaign")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["bench"] == "flash-sale":
            from siyu.campaigns.bench_command import run_flash_sale

            result = run_flash_sale(options, _scratch_database)
            self.stdout.write(json.dumps(result, ensure_ascii=False))
            return
        if options["inner"]:
            result = _run_inner(options)
            self.stdout.write(json.dumps(result))
            return
        with (
            tempfile.TemporaryDirectory(prefix="siyu-bench-") as tmp,
            _scratch_database(options["database_url"]) as url,
        ):
            env = {**os.environ, "SIYU_VAR_DIR": tmp}
            env.pop("DATABASE_URL", None)
            if url:
                env["DATABASE_URL"] = url
            cli = [sys.executable, "-m", "siyu.cli"]
            subprocess.run([*cli, "migrate", "-v0"], env=env, check=True)  # noqa: S603 -- our own CLI
            inner = [*cli, "bench", options["bench"], "--inner"]
            for key in ("stores", "members", "seed", "rows"):
                inner += [f"--{key}", str(options[key])]
            proc = subprocess.run(inner, env=env, capture_output=True, text=True, check=False)  # noqa: S603
            if proc.returncode != 0:
                raise CommandError(proc.stderr[-2000:])
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            self.stdout.write(json.dumps(result, ensure_ascii=False))


@contextmanager
def _scratch_database(server_url: str) -> Iterator[str]:
    """Create an empty PostgreSQL database on ``server_url``'s server for one run; drop it after."""
    if not server_url:
        yield ""
        return
    import psycopg

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


def _run_inner(options: dict[str, Any]) -> dict[str, Any]:
    from django.db import connection

    backend = connection.vendor
    if options["bench"] == "seed-demo":
        from siyu.org.services.demo import DEFAULT_PASSWORD, seed_demo

        started = time.perf_counter()
        summary = seed_demo(
            stores=options["stores"],
            members=options["members"],
            seed=options["seed"],
            password=DEFAULT_PASSWORD,
        )
        seconds = time.perf_counter() - started
        return {
            "bench": "seed-demo",
            "backend": backend,
            "stores": summary.stores,
            "members": summary.members,
            "events": summary.events,
            "seconds": round(seconds, 2),
            "members_per_s": round(summary.members / seconds, 1) if seconds else None,
        }
    return _bench_import(options["rows"], backend)


def _bench_import(rows: int, backend: str) -> dict[str, Any]:
    import csv
    import io

    from siyu.members.services.imports import import_members
    from siyu.org.models import Brand, Role, Staff, Store

    brand = Brand.objects.create(code="bench", name="Bench")
    stores = [Store.objects.create(brand=brand, code=f"B{i:03d}", name=f"Bench {i}") for i in range(5)]
    staff = Staff.objects.create(username="bench", role=Role.HQ_ADMIN, brand=brand)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["手机号", "姓名", "性别", "生日", "门店编码", "标签"])
    for i in range(rows):
        writer.writerow(
            [
                f"135{i:08d}",
                f"会员{i}",
                "女" if i % 3 else "男",
                f"19{70 + i % 30}-0{1 + i % 9}-1{i % 9}",
                stores[i % 5].code,
                "兴趣/宝妈" if i % 2 else "兴趣/健康养生",
            ]
        )
    content = buf.getvalue().encode("utf-8")
    started = time.perf_counter()
    first = import_members(staff, "bench.csv", content)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    again = import_members(staff, "bench.csv", content)
    again_s = time.perf_counter() - started
    return {
        "bench": "import",
        "backend": backend,
        "rows": rows,
        "status": first.status,
        "created": first.created_count,
        "seconds": round(first_s, 2),
        "rows_per_s": round(rows / first_s, 1) if first_s else None,
        "reimport_created": again.created_count,
        "reimport_updated": again.updated_count,
        "reimport_seconds": round(again_s, 2),
    }
