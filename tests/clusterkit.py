"""A private Redis Cluster for tests: three primaries on spare ports, no replicas, no disk."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from redis.cluster import RedisCluster

from tests.faultkit import RedisServer
from tests.servers import free_port

MISSING = [tool for tool in ("redis-server", "redis-cli") if shutil.which(tool) is None]


class ClusterNodeServer(RedisServer):
    """One node of the cluster: faultkit's private redis-server, cluster mode on.

    The cluster bus gets a spare port of its own: by default it is the client port + 10000,
    which a spare port above 55535 does not have.
    """

    def __init__(self, workdir: Path, port: int) -> None:
        super().__init__(workdir, port)
        self.bus_port = free_port()

    def options(self) -> list[str]:
        return [
            "--cluster-enabled", "yes", "--cluster-port", str(self.bus_port),
            "--cluster-config-file", "nodes.conf",
        ]  # fmt: skip


class RedisClusterServers:
    """Three cluster-enabled redis-servers joined by ``redis-cli --cluster create``."""

    def __init__(self, workdir: Path | None = None) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="clusterkit-"))
        self.nodes = [ClusterNodeServer(self.workdir / f"node{i}", free_port()) for i in range(3)]

    @property
    def url(self) -> str:
        """REDIS_URL naming this cluster by its seed nodes."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def start(self, seconds: float = 20) -> None:
        """Start the nodes, give them the 16384 slots, and wait until the cluster says ok."""
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0"]
            + ["--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=seconds,
        )
        deadline = time.monotonic() + seconds
        while not all(self._ok(node) for node in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster in {self.workdir} did not become ok")
            time.sleep(0.1)

    def _ok(self, node: ClusterNodeServer) -> bool:
        with node.client() as probe:
            return probe.cluster("info")["cluster_state"] == "ok"

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()

    def client(self) -> RedisCluster:
        """A synchronous cluster client, for inspecting where things live."""
        return RedisCluster(host="127.0.0.1", port=self.nodes[0].port, decode_responses=True)

    def server_of(self, name: str) -> ClusterNodeServer:
        """The redis-server of the primary that owns ``name``'s slot."""
        with self.client() as cluster:
            owner = cluster.get_node_from_key(name)
        return next(node for node in self.nodes if node.port == owner.port)

    def node_of(self, name: str) -> redis.Redis:
        """A plain client of the primary that owns ``name``'s slot."""
        with self.client() as cluster:
            owner = cluster.get_node_from_key(name)
        return redis.Redis(host=owner.host, port=owner.port, decode_responses=True)
