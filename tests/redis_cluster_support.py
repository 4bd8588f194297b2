"""A throw-away local Redis Cluster of three masters for the tests that prove flash admission on a cluster.

``start_cluster()`` starts ``redis-server --cluster-enabled yes`` on three ports (``SIYU_TEST_CLUSTER_PORT``,
default 7101, and the next two) with their files in a temporary directory, joins them with
``redis-cli --cluster create … --cluster-replicas 0`` and waits until every node reports ``cluster_state:ok``.
``LocalCluster.stop()`` shuts the nodes down (by their own port, the processes this started) and removes
the directory. The nodes keep an append-only file (``appendonly yes``), as a production flash-sale Redis must.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

NODES = 3


def base_port() -> int:
    return int(os.environ.get("SIYU_TEST_CLUSTER_PORT", "7101"))


def missing_tools() -> str:
    """Why no cluster can be started here ("" if it can)."""
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install redis-server)"
    return ""


def _cli(port: int, *args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _up(port: int) -> bool:
    try:
        return _cli(port, "ping", timeout=2).stdout.strip() == "PONG"
    except subprocess.TimeoutExpired:
        return False


@dataclass
class LocalCluster:
    ports: list[int]
    directory: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def stop(self) -> None:
        for port in self.ports:
            if _up(port):
                _cli(port, "shutdown", "nosave")
        for port in self.ports:
            for _ in range(50):
                if not _up(port):
                    break
                time.sleep(0.1)
        shutil.rmtree(self.directory, ignore_errors=True)


def start_cluster() -> LocalCluster:
    """Start and join a three-master cluster; RuntimeError (with the nodes stopped) if it does not form."""
    ports = [base_port() + i for i in range(NODES)]
    busy = [p for p in ports if _up(p)]
    if busy:
        raise RuntimeError(f"ports {busy} already serve a Redis: set SIYU_TEST_CLUSTER_PORT to free ports")
    cluster = LocalCluster(ports, tempfile.mkdtemp(prefix="siyu-redis-cluster-"))
    try:
        for port in ports:
            node_dir = os.path.join(cluster.directory, str(port))
            os.mkdir(node_dir)
            subprocess.run(
                [
                    "redis-server",
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", os.path.join(node_dir, "nodes.conf"),
                    "--cluster-node-timeout", "5000",
                    "--appendonly", "yes",
                    "--save", "",
                    "--dir", node_dir,
                    "--logfile", os.path.join(node_dir, "redis.log"),
                    "--daemonize", "yes",
                ],
                check=True,
                capture_output=True,
                timeout=10,
            )  # fmt: skip
        for port in ports:
            for _ in range(100):
                if _up(port):
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"redis-server on port {port} did not start")
        created = subprocess.run(
            [
                "redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                "--cluster-replicas", "0", "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout}{created.stderr}")
        deadline = time.monotonic() + 30
        while not all("cluster_state:ok" in _cli(p, "cluster", "info").stdout for p in ports):
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not reach cluster_state:ok within 30 s")
            time.sleep(0.2)
    except BaseException:
        cluster.stop()
        raise
    return cluster
