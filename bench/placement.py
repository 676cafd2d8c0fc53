#!/usr/bin/env python3
"""Placement benchmark with hollow container instances.

For each instance count (default 1,000 and 10,000): starts a release
`berth server` on a temporary data dir and one `berth agent --runtime hollow
--instances N` process (the real agent session code, no containers), waits
until every instance is registered and connected, then for each placement
strategy (binpack on memory, spread on instanceId) issues RunTask calls from
concurrent clients and measures tasks/s and the RunTask (placement) latency
p50/p99. Afterwards it checks that no instance is over-committed: for every
container instance, the CPU/memory reserved by its non-STOPPED tasks
(DescribeTasks) is at most what it registered, and DescribeContainerInstances'
remainingResources are never negative. It also records the server's peak RSS
(VmHWM) with the hollow instances connected.

Writes bench/out/placement.json. Usually run through bench/run.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions

HERE = Path(__file__).resolve().parent
CLUSTER = "bench-placement"
FAMILY = "bench-hollow"
TASK_CPU = 128
TASK_MEMORY = 256
STRATEGIES = {
    "binpack": [{"type": "binpack", "field": "memory"}],
    "spread": [{"type": "spread", "field": "instanceId"}],
}


def percentile(sorted_values: list, p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def vm_hwm_mib(pid: int) -> float | None:
    try:
        m = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None
    return round(int(m.group(1)) / 1024, 1) if m else None


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, berth: str, work: Path, extra_args: tuple = ()):
        self.work = work
        self.out = open(work / "server.out", "w+")
        self.err = open(work / "server.err", "w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_ROOT_")}
        env["BERTH_LOG"] = env.get("BERTH_LOG", "warn")
        self.proc = subprocess.Popen(
            # Thousands of hollow instances hold one session connection each: above the default cap.
            [berth, "server", "--listen", "127.0.0.1:0", "--data-dir", str(work / "data"),
             "--max-connections", "20000", *extra_args],
            stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL, env=env,
        )
        deadline = time.monotonic() + 60
        text = ""
        while time.monotonic() < deadline:
            text = (work / "server.out").read_text()
            if "secret key:" in text:
                break
            if self.proc.poll() is not None:
                raise SystemExit(f"berth server exited: {(work / 'server.err').read_text()[-2000:]}")
            time.sleep(0.05)
        else:
            raise SystemExit("berth server did not print its endpoint within 60 s")
        field = lambda name: re.search(rf"^\s*{name}:\s*(\S+)", text, re.M).group(1)  # noqa: E731
        self.endpoint = field("endpoint")
        self.key = field("access key")
        self.secret = field("secret key")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def client(server: Server, read_timeout: float = 120):
    return boto3.session.Session(
        aws_access_key_id=server.key, aws_secret_access_key=server.secret, region_name="us-east-1"
    ).client(
        "ecs",
        endpoint_url=server.endpoint,
        config=botocore.config.Config(retries={"total_max_attempts": 1}, max_pool_connections=64,
                                      read_timeout=read_timeout, connect_timeout=30),
    )


def all_instances(ecs, cluster: str = CLUSTER) -> list:
    arns = []
    for page in ecs.get_paginator("list_container_instances").paginate(cluster=cluster):
        arns += page["containerInstanceArns"]
    out = []
    for i in range(0, len(arns), 100):
        out += ecs.describe_container_instances(cluster=cluster, containerInstances=arns[i:i + 100])[
            "containerInstances"]
    return out


def vm_rss_mib(pid: int) -> float | None:
    try:
        m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None
    return int(m.group(1)) / 1024 if m else None


def wait_connected(ecs, n: int, timeout: float, server_pid: int, max_rss_mib: float, cluster: str = CLUSTER) -> float:
    t0 = time.monotonic()
    while True:
        rss = vm_rss_mib(server_pid)
        if rss is not None and rss > max_rss_mib:
            raise TimeoutError(f"the server's RSS reached {rss:.0f} MiB (limit --max-server-rss-mib {max_rss_mib:.0f})")
        arns: list = []
        connected = 0
        try:
            for page in ecs.get_paginator("list_container_instances").paginate(cluster=cluster):
                arns += page["containerInstanceArns"]
            if len(arns) >= n:
                insts = all_instances(ecs, cluster)
                connected = sum(1 for i in insts if i.get("agentConnected"))
                if connected >= n:
                    return time.monotonic() - t0
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            print(f"  (the server did not answer the progress check: {e!r:.120})", file=sys.stderr, flush=True)
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{len(arns)} registered, {connected} connected of {n} after {timeout:.0f} s")
        time.sleep(1.0)


def run_tasks(server: Server, strategy: str, tasks: int, concurrency: int, per_call: int, max_s: float) -> dict:
    """`tasks` tasks in RunTask calls of `per_call` tasks from `concurrency`
    threads; calls not started within `max_s` seconds are skipped."""
    calls = (tasks + per_call - 1) // per_call
    local = threading.local()
    lat: list = []
    failures: list = []
    errors: list = []
    lock = threading.Lock()

    def one(i):
        if not hasattr(local, "ecs"):
            local.ecs = client(server)
        count = min(per_call, tasks - i * per_call)
        t0 = time.perf_counter()
        if t0 > deadline:
            return
        try:
            r = local.ecs.run_task(cluster=CLUSTER, taskDefinition=FAMILY, count=count, launchType="EC2",
                                   placementStrategy=STRATEGIES[strategy], startedBy=f"bench-{strategy}")
        except Exception as e:  # noqa: BLE001 - reported
            with lock:
                errors.append(repr(e)[:300])
            return
        dt = time.perf_counter() - t0
        with lock:
            lat.append(dt)
            failures.extend(f.get("reason") for f in r.get("failures", []))
            placed[0] += len(r.get("tasks", []))

    placed = [0]
    cpu0 = proc_cpu_seconds(server.proc.pid)
    t0 = time.perf_counter()
    deadline = t0 + max_s
    with cf.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(calls)))
    wall = time.perf_counter() - t0
    cpu1 = proc_cpu_seconds(server.proc.pid)
    lat.sort()
    return {
        "strategy": strategy,
        "tasks_requested": tasks,
        "tasks_per_call": per_call,
        "concurrency": concurrency,
        "tasks_placed": placed[0],
        "failures": len(failures),
        "first_failure": failures[0] if failures else None,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "wall_s": round(wall, 2),
        "stopped_at_time_limit": placed[0] + len(failures) < tasks,
        "tasks_per_s": round(placed[0] / wall, 1) if wall else None,
        "calls_per_s": round(len(lat) / wall, 1) if wall else None,
        "p50_ms": round(percentile(lat, 50) * 1000, 1),
        "p99_ms": round(percentile(lat, 99) * 1000, 1),
        "server_cpu_percent": round((cpu1 - cpu0) / wall * 100, 1) if cpu0 is not None and cpu1 else None,
    }


def check_overcommit(ecs) -> dict:
    """Sums non-STOPPED tasks' reservations per instance and compares with what it registered."""
    arns = []
    for page in ecs.get_paginator("list_tasks").paginate(cluster=CLUSTER, desiredStatus="RUNNING"):
        arns += page["taskArns"]
    used: dict = {}
    for i in range(0, len(arns), 100):
        for t in ecs.describe_tasks(cluster=CLUSTER, tasks=arns[i:i + 100])["tasks"]:
            if t.get("lastStatus") == "STOPPED":
                continue
            u = used.setdefault(t["containerInstanceArn"], [0, 0])
            u[0] += int(t.get("cpu") or 0)
            u[1] += int(t.get("memory") or 0)
    over, negative, checked = [], [], 0
    for inst in all_instances(ecs):
        checked += 1
        reg = {r["name"]: r.get("integerValue", 0) for r in inst["registeredResources"]}
        rem = {r["name"]: r.get("integerValue", 0) for r in inst["remainingResources"]}
        cpu, mem = used.get(inst["containerInstanceArn"], [0, 0])
        if cpu > reg.get("CPU", 0) or mem > reg.get("MEMORY", 0):
            over.append(inst["containerInstanceArn"])
        if rem.get("CPU", 0) < 0 or rem.get("MEMORY", 0) < 0:
            negative.append(inst["containerInstanceArn"])
    return {
        "instances_checked": checked,
        "tasks_checked": len(arns),
        "instances_with_tasks": len(used),
        "max_tasks_memory_on_one_instance": max((m for _, m in used.values()), default=0),
        "over_committed": len(over),
        "negative_remaining": len(negative),
        "ok": not over and not negative,
    }


def bench_size(args, n: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"berth-placement-{n}-"))
    server = Server(args.berth_bin, work)
    agent = None
    try:
        ecs = client(server)
        ecs.create_cluster(clusterName=CLUSTER)
        ecs.register_task_definition(
            family=FAMILY, requiresCompatibilities=["EC2"], networkMode="bridge",
            containerDefinitions=[{"name": "app", "image": "busybox", "cpu": TASK_CPU, "memory": TASK_MEMORY,
                                   "essential": True}],
        )
        env = dict(os.environ, AWS_ACCESS_KEY_ID=server.key, AWS_SECRET_ACCESS_KEY=server.secret,
                   BERTH_LOG=os.environ.get("BERTH_LOG", "warn"))
        env.pop("AWS_SESSION_TOKEN", None)
        agent_log = open(work / "agent.err", "w")
        agent = subprocess.Popen(
            [args.berth_bin, "agent", "--runtime", "hollow", "--instances", str(n), "--server", server.endpoint,
             "--cluster", CLUSTER, "--data-dir", str(work / "agents"), "--hollow-delay", args.hollow_delay],
            stdout=subprocess.DEVNULL, stderr=agent_log, stdin=subprocess.DEVNULL, env=env,
        )
        row: dict = {"instances": n}
        try:
            # A progress check must not outlast the bound by a whole 120 s read timeout.
            progress = client(server, read_timeout=min(30.0, args.connect_timeout))
            row["connect_s"] = round(
                wait_connected(progress, n, args.connect_timeout, server.proc.pid, args.max_server_rss_mib), 1)
        except TimeoutError as e:
            row["error"] = f"hollow instances did not all connect: {e}"
            row["server_peak_rss_mib"] = vm_hwm_mib(server.proc.pid)
            return row
        print(f"  {n} hollow instances connected in {row['connect_s']} s", file=sys.stderr, flush=True)
        row["runs"] = []
        for strategy in args.strategies:
            r = run_tasks(server, strategy, args.tasks, args.concurrency, args.per_call, args.max_run_seconds)
            print(f"  {strategy}: {r['tasks_placed']} tasks, {r['tasks_per_s']} tasks/s, p50 {r['p50_ms']} ms, "
                  f"p99 {r['p99_ms']} ms", file=sys.stderr, flush=True)
            row["runs"].append(r)
        row["overcommit_check"] = check_overcommit(ecs)
        row["server_peak_rss_mib"] = vm_hwm_mib(server.proc.pid)
        row["agent_peak_rss_mib"] = vm_hwm_mib(agent.pid)
        return row
    finally:
        if agent is not None and agent.poll() is None:
            agent.terminate()
            try:
                agent.wait(timeout=30)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
        server.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth-bin", default=str(HERE.parent / "target" / "release" / "berth"))
    ap.add_argument("--instances", default="1000,10000", help="comma-separated instance counts")
    ap.add_argument("--strategies", default="binpack,spread")
    ap.add_argument("--tasks", type=int, default=2000, help="tasks per strategy and size")
    ap.add_argument("--per-call", type=int, default=1, help="tasks per RunTask call (1..10)")
    ap.add_argument("--concurrency", type=int, default=16, help="concurrent RunTask clients")
    ap.add_argument("--hollow-delay", default="50-200", help="hollow task start/stop delay, ms")
    ap.add_argument("--connect-timeout", type=float, default=240.0, help="s to wait for the instances")
    ap.add_argument("--max-run-seconds", type=float, default=90.0, help="time limit of one strategy's RunTasks")
    ap.add_argument("--max-server-rss-mib", type=float, default=6144.0,
                    help="give up on a size when the server grows past this (protects a shared machine)")
    ap.add_argument("--out", default=str(HERE / "out" / "placement.json"))
    args = ap.parse_args()
    args.strategies = [s for s in args.strategies.split(",") if s]
    for s in args.strategies:
        if s not in STRATEGIES:
            ap.error(f"unknown strategy {s}: use {', '.join(STRATEGIES)}")
    if not 1 <= args.per_call <= 10:
        ap.error("--per-call must be 1..10 (RunTask's count)")
    nofile = raise_nofile()
    sizes = [int(x) for x in args.instances.split(",") if x]
    rows = []
    for n in sizes:
        if n + 512 > nofile:
            print(f"warning: {n} instances need about {n} open files per process; the limit is {nofile}",
                  file=sys.stderr)
        print(f"placement with {n} hollow instances ...", file=sys.stderr, flush=True)
        try:
            rows.append(bench_size(args, n))
        except Exception as e:  # noqa: BLE001 - one size failing must not lose the others
            rows.append({"instances": n, "error": f"{e!r:.300}"})
    print()
    print(f"{'instances':>9}  {'strategy':8}  {'tasks':>6}  {'fail':>4}  {'tasks/s':>8}  {'p50 ms':>7}  {'p99 ms':>7}  "
          f"{'server CPU %':>12}  {'overcommit':>10}  {'server RSS MiB':>14}")
    for row in rows:
        if "error" in row:
            print(f"{row['instances']:>9}  {row['error']}")
            continue
        oc = "none" if row["overcommit_check"]["ok"] else "FOUND"
        for r in row["runs"]:
            print(f"{row['instances']:>9}  {r['strategy']:8}  {r['tasks_placed']:>6}  "
                  f"{r['failures'] + r['errors']:>4}  {r['tasks_per_s']:>8}  {r['p50_ms']:>7}  {r['p99_ms']:>7}  "
                  f"{r['server_cpu_percent']:>12}  {oc:>10}  {row['server_peak_rss_mib']:>14}")
    report = {
        "benchmark": "placement",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "nofile": nofile},
        "settings": {"tasks": args.tasks, "per_call": args.per_call, "concurrency": args.concurrency,
                     "hollow_delay_ms": args.hollow_delay, "task_cpu": TASK_CPU, "task_memory": TASK_MEMORY,
                     "note": "server, hollow agents and boto3 clients share the machine"},
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {out}")
    bad = any("error" in r or not r["overcommit_check"]["ok"] for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
