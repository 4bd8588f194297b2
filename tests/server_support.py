"""A real Siyu server for tests that need one: gunicorn with Siyu's config (its master keeps the scheduler
alive, as in ``siyu demo``), on a scratch SQLite database in its own var dir and its own Redis key prefix."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siyu.common.periodic import SchedulerLock
from siyu.tooling.bench.flash_sale_run import _forget_redis_keys, _free_port, _server, _wait_ready


@dataclass
class Served:
    env: dict[str, str]
    url: str
    process: subprocess.Popen[bytes]
    var_dir: Path

    @property
    def log(self) -> str:
        return (self.var_dir / "server.log").read_text(errors="replace")

    def scheduler_pid(self, timeout: float = 60.0) -> int:
        """The pid of the scheduler holding the lock now (waits until one does)."""
        lock = SchedulerLock(str(self.var_dir / "scheduler.lock"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if lock.acquire(wait=False):
                lock.release()  # nobody holds it yet
            else:
                pid = lock.holder()
                if pid:
                    return pid
            time.sleep(0.2)
        raise AssertionError(f"no scheduler took the lock:\n{self.log[-3000:]}")


def wait_for(check: Callable[[], Any], timeout: float = 60.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


@contextmanager
def serving(var_dir: Path, *, scheduler: bool = True, redis: bool = True) -> Iterator[Served]:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if not redis:
        env.pop("REDIS_URL", None)
    prefix = f"siyu:test:{uuid.uuid4().hex[:10]}"
    env.update(
        SIYU_VAR_DIR=str(var_dir),
        SIYU_FLASH_REDIS_PREFIX=prefix,
        SIYU_FLASH_ALLOW_VOLATILE_REDIS="1",
        SIYU_PAYMENT_PROVIDER="pay_at_pickup",
        SIYU_SCHEDULER="1" if scheduler else "0",
        SIYU_SCHEDULER_NICE="0",
    )
    subprocess.run([sys.executable, "-m", "siyu.cli", "migrate", "-v0"], env=env, check=True)
    port = _free_port()
    server = _server(env, port, 1, 8, var_dir / "server.log")
    try:
        _wait_ready(f"http://127.0.0.1:{port}/h5/", server)
        yield Served(env=env, url=f"http://127.0.0.1:{port}", process=server, var_dir=var_dir)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        if env.get("REDIS_URL"):
            _forget_redis_keys(env["REDIS_URL"], prefix)
