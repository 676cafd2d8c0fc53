"""Shared pieces of the hollow-instance benchmarks (services.py, memory.py):
hollow agents spread over several processes, a per-thread boto3 client
pool, an RSS guard on the server, and process helpers. The server itself is
placement.Server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from placement import Server, client, vm_hwm_mib, vm_rss_mib


class HollowAgents:
    """`procs` `berth agent --runtime hollow` processes hosting `instances`
    instances between them (as evenly as possible), each on its own data dir
    under `work`, all joining `cluster`."""

    def __init__(self, berth: str, server: Server, cluster: str, instances: int, procs: int, work: Path,
                 hollow_delay: str = "50-200", extra_args: tuple = ()):
        procs = max(1, min(procs, instances))
        env = dict(os.environ, AWS_ACCESS_KEY_ID=server.key, AWS_SECRET_ACCESS_KEY=server.secret,
                   BERTH_LOG=os.environ.get("BERTH_LOG", "warn"))
        env.pop("AWS_SESSION_TOKEN", None)
        self.procs: list = []  # (Popen, data dir, instance count)
        for p in range(procs):
            n = instances // procs + (1 if p < instances % procs else 0)
            data = work / f"agents-{p}"
            log = open(work / f"agent-{p}.err", "w")
            proc = subprocess.Popen(
                [berth, "agent", "--runtime", "hollow", "--instances", str(n), "--server", server.endpoint,
                 "--cluster", cluster, "--data-dir", str(data), "--hollow-delay", hollow_delay, *extra_args],
                stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL, env=env,
            )
            self.procs.append((proc, data, n))

    def instance_arns(self, index: int) -> list:
        """The container instance ARNs process `index` registered (from each
        instance's DATA_DIR/hollow-<i>/agent-state.json)."""
        _, data, _ = self.procs[index]
        arns = []
        for state in sorted(data.glob("hollow-*/agent-state.json")):
            try:
                arn = json.loads(state.read_text()).get("containerInstanceArn")
            except (OSError, ValueError):
                continue
            if arn:
                arns.append(arn)
        return arns

    def kill(self, index: int) -> None:
        """SIGKILL: the instances' sessions end without a goodbye."""
        proc, _, _ = self.procs[index]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def peak_rss_mib(self) -> list:
        return [vm_hwm_mib(p.pid) for p, _, _ in self.procs]

    def alive(self) -> int:
        return sum(1 for p, _, _ in self.procs if p.poll() is None)

    def stop(self) -> None:
        for p, _, _ in self.procs:
            if p.poll() is None:
                p.terminate()
        for p, _, _ in self.procs:
            stop_proc(p)


def stop_proc(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Clients:
    """One boto3 ECS client per thread (boto3 sessions are not thread-safe)."""

    def __init__(self, server: Server):
        self.server = server
        self.local = threading.local()

    def get(self):
        if not hasattr(self.local, "ecs"):
            self.local.ecs = client(self.server)
        return self.local.ecs


class RssGuard:
    """Samples the server's RSS every 0.5 s; past `limit_mib` it kills the
    server (SIGKILL) so a shared machine is protected, and remembers why."""

    def __init__(self, server: Server, limit_mib: float):
        self.server = server
        self.limit = limit_mib
        self.tripped: str | None = None
        self.max_seen = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        pid = self.server.proc.pid
        while not self._stop.wait(0.5):
            rss = vm_rss_mib(pid)
            if rss is None:
                return
            self.max_seen = max(self.max_seen, rss)
            if rss > self.limit:
                self.tripped = (f"the server's RSS reached {rss:.0f} MiB (limit --max-server-rss-mib "
                                f"{self.limit:.0f}): the server was killed")
                self.server.proc.kill()
                return

    def check(self) -> None:
        if self.tripped:
            raise GuardTripped(self.tripped)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


class GuardTripped(RuntimeError):
    pass


def now() -> float:
    return time.monotonic()
