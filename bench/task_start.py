#!/usr/bin/env python3
"""Task start latency: RunTask → RUNNING on a running Berth, next to a plain
`docker run -d` of the same (cached, local) image, in the same run.

`--modes` picks the kinds of task measured (default all three): `bridge`
(an EC2-style task on Docker's bridge), `awsvpc` (its own network namespace
and address: the pause container, the veth and the lease) and `fargate`
(launch type FARGATE: awsvpc plus gVisor when Docker has the `runsc`
runtime, and the task-level cgroup). Issue 17's goals: awsvpc ≤ 1.15× and
FARGATE ≤ 1.5× `docker run`. An agent keeps a warm pause container once it
has run an awsvpc task (`--warm-pause`, default 1): the first awsvpc round
of a fresh agent makes its own, the later awsvpc and FARGATE rounds claim
the warm one (the pool is refilled while the previous task stops).

For each of N rounds (alternating, so both see the same machine state):
  * berth:  time from sending RunTask (boto3) until DescribeTasks says
    lastStatus RUNNING (polled every --poll-ms); also the server's own view,
    startedAt - createdAt;
  * docker: time from starting `docker run -d` until `docker inspect` says
    the container is running.
Prints p50/p90/p99/max of both and the ratio, as a table and as JSON
(bench/out/task_start.json).

With `fargate` among the modes and Docker's `runsc` runtime registered, an
extra line times `docker run -d --runtime runsc --network none` too (gVisor's
own start, to explain the FARGATE row); the goals stay against plain
`docker run -d`.

The image is made here (`docker import` of a busybox-static rootfs), so it
is always cached. Every container started here is labelled and removed at
the end. Usually run through bench/run-task-start, which builds a release
binary and starts `berth up` (its in-process agent joins the cluster
`default`).
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import botocore.config

OUT = Path(__file__).resolve().parent / "out" / "task_start.json"
LABEL = "berth-bench"


def docker(*args: str, check: bool = True) -> str:
    p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout.strip()


def make_image(run_id: str) -> str:
    busybox = shutil.which("busybox") or "/bin/busybox"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d, mode in (("bin", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "sleep"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    name = f"berth-bench-{run_id}:latest"
    p = subprocess.run(
        ["docker", "import", "--change", "ENV PATH=/bin", "-", name], input=buf.getvalue(), capture_output=True
    )
    if p.returncode != 0:
        raise RuntimeError(f"docker import failed: {p.stderr.decode(errors='replace')}")
    return name


def pct(xs: list, p: float) -> float:
    s = sorted(xs)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(xs: list) -> dict:
    return {
        "n": len(xs),
        "p50_ms": round(pct(xs, 50) * 1000, 1),
        "p90_ms": round(pct(xs, 90) * 1000, 1),
        "p99_ms": round(pct(xs, 99) * 1000, 1),
        "max_ms": round(max(xs) * 1000, 1),
        "mean_ms": round(statistics.fmean(xs) * 1000, 1),
    }


class Bench:
    def __init__(self, args):
        self.args = args
        cfg = botocore.config.Config(retries={"total_max_attempts": 1}, max_pool_connections=16)
        self.ecs = boto3.session.Session(
            aws_access_key_id=args.access_key,
            aws_secret_access_key=args.secret_key,
            region_name=args.region,
        ).client("ecs", endpoint_url=args.endpoint, config=cfg)
        self.run_id = uuid.uuid4().hex[:10]
        self.task_arns: list[str] = []

    def wait_for_agent(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            arns = self.ecs.list_container_instances(cluster=self.args.cluster)["containerInstanceArns"]
            if arns:
                ci = self.ecs.describe_container_instances(cluster=self.args.cluster, containerInstances=arns)
                live = [i["containerInstanceArn"] for i in ci["containerInstances"] if i["agentConnected"]]
                if live:
                    return live[0]
            time.sleep(0.2)
        raise SystemExit(f"no connected container instance in cluster {self.args.cluster} after 60 s")

    def berth_once(self, td: str, **extra) -> tuple[float, float]:
        poll = self.args.poll_ms / 1000
        t0 = time.perf_counter()
        out = self.ecs.run_task(
            cluster=self.args.cluster, taskDefinition=td, startedBy=f"bench-{self.run_id}", **extra
        )
        if out["failures"] or not out["tasks"]:
            raise RuntimeError(f"RunTask failed: {out['failures']}")
        arn = out["tasks"][0]["taskArn"]
        self.task_arns.append(arn)
        deadline = t0 + 60
        while True:
            t = self.ecs.describe_tasks(cluster=self.args.cluster, tasks=[arn])["tasks"][0]
            if t["lastStatus"] == "RUNNING":
                elapsed = time.perf_counter() - t0
                server = (t["startedAt"] - t["createdAt"]).total_seconds()
                self.release(arn)
                return elapsed, server
            if t["lastStatus"] == "STOPPED":
                raise RuntimeError(f"task stopped: {t.get('stoppedReason')} {t['containers']}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"task {arn} not RUNNING after 60 s")
            time.sleep(poll)

    def release(self, arn: str) -> None:
        """Stops a measured task and waits (not measured) until it is STOPPED, so that the tasks of a
        long run (FARGATE's reserve 256 CPU units each) never run out of room on the instance."""
        self.ecs.stop_task(cluster=self.args.cluster, task=arn, reason="measured")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.ecs.describe_tasks(cluster=self.args.cluster, tasks=[arn])["tasks"][0]["lastStatus"] == "STOPPED":
                return
            time.sleep(0.1)

    def docker_once(self, image: str, *extra: str) -> float:
        poll = self.args.poll_ms / 1000
        name = f"berth-bench-{self.run_id}-{uuid.uuid4().hex[:8]}"
        t0 = time.perf_counter()
        docker(
            "run", "-d", "--name", name, "--label", f"{LABEL}={self.run_id}", "--memory", "16m", *extra,
            image, "sleep", "3600",
        )
        deadline = t0 + 60
        while docker("inspect", "-f", "{{.State.Running}}", name) != "true":
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{name} not running after 60 s")
            time.sleep(poll)
        return time.perf_counter() - t0

    def cleanup(self) -> None:
        def stop(arn):
            try:
                self.ecs.stop_task(cluster=self.args.cluster, task=arn, reason="benchmark done")
            except Exception as e:  # noqa: BLE001 - best effort at the end
                print(f"stop {arn}: {e}", file=sys.stderr)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(stop, self.task_arns))
        # Wait (bounded) for the agent to stop them, then remove what is left.
        deadline = time.monotonic() + 60
        pending = list(self.task_arns)
        while pending and time.monotonic() < deadline:
            done = set()
            for i in range(0, len(pending), 100):
                for t in self.ecs.describe_tasks(cluster=self.args.cluster, tasks=pending[i : i + 100])["tasks"]:
                    if t["lastStatus"] == "STOPPED":
                        done.add(t["taskArn"])
            pending = [a for a in pending if a not in done]
            if pending:
                time.sleep(0.5)
        ids = []
        for arn in self.task_arns:
            ids += docker("ps", "-aq", "--filter", f"label=com.amazonaws.ecs.task-arn={arn}", check=False).split()
        ids += docker("ps", "-aq", "--filter", f"label={LABEL}={self.run_id}", check=False).split()
        if ids:
            docker("rm", "-f", *ids, check=False)

    def subnet_id(self) -> str:
        """A default subnet of the region (EC2's default-for-az); a well-formed id where the server has none
        (servers that do not look subnets up in EC2 accept any)."""
        ec2 = boto3.session.Session(
            aws_access_key_id=self.args.access_key,
            aws_secret_access_key=self.args.secret_key,
            region_name=self.args.region,
        ).client("ec2", endpoint_url=self.args.endpoint)
        try:
            subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        except Exception:  # noqa: BLE001 - a server without the filter or the operation
            subnets = []
        return subnets[0]["SubnetId"] if subnets else "subnet-0123456789abcdef0"

    def task_definitions(self, image: str) -> dict:
        """Per mode: (task definition ARN, RunTask's extra arguments)."""
        app = {"name": "app", "image": image, "memory": 16, "essential": True, "command": ["sleep", "3600"],
               "stopTimeout": 2}
        net = {"networkConfiguration": {"awsvpcConfiguration": {"subnets": [self.subnet_id()]}}}
        out = {}
        for mode in self.args.modes:
            family = f"bench-start-{mode}-{self.run_id}"
            if mode == "bridge":
                td = self.ecs.register_task_definition(family=family, containerDefinitions=[app])
                out[mode] = (td["taskDefinition"]["taskDefinitionArn"], {})
            elif mode == "awsvpc":
                td = self.ecs.register_task_definition(family=family, networkMode="awsvpc", containerDefinitions=[app])
                out[mode] = (td["taskDefinition"]["taskDefinitionArn"], net)
            elif mode == "fargate":
                td = self.ecs.register_task_definition(
                    family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
                    memory="512", containerDefinitions=[{k: v for k, v in app.items() if k != "memory"}],
                )
                out[mode] = (td["taskDefinition"]["taskDefinitionArn"], {**net, "launchType": "FARGATE"})
        return out

    def run(self) -> dict:
        instance = self.wait_for_agent()
        image = make_image(self.run_id)
        try:
            tds = self.task_definitions(image)
            # Warm-up (not measured): one of each.
            for td, extra in tds.values():
                self.berth_once(td, **extra)
            self.docker_once(image)
            # gVisor's own start, when FARGATE tasks run under it.
            runsc = "fargate" in tds and "runsc" in docker("info", "-f", "{{json .Runtimes}}", check=False)
            gvisor = ("--runtime", "runsc", "--network", "none")
            if runsc:
                self.docker_once(image, *gvisor)
            client = {m: [] for m in tds}
            server = {m: [] for m in tds}
            dock = []
            dock_runsc = []
            # Alternating, so every kind sees the same machine state.
            for i in range(self.args.tasks):
                for mode, (td, extra) in tds.items():
                    b, s = self.berth_once(td, **extra)
                    client[mode].append(b)
                    server[mode].append(s)
                dock.append(self.docker_once(image))
                if runsc:
                    dock_runsc.append(self.docker_once(image, *gvisor))
                if self.args.verbose:
                    line = "  ".join(f"{m} {client[m][-1] * 1000:7.1f} ms" for m in tds)
                    extra = f"  docker runsc {dock_runsc[-1] * 1000:7.1f} ms" if runsc else ""
                    print(f"{i + 1:3d}  {line}  docker {dock[-1] * 1000:7.1f} ms{extra}", flush=True)
        finally:
            try:
                self.cleanup()
            finally:
                docker("rmi", "-f", image, check=False)
        result = {
            "benchmark": "task_start",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": {
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "docker": docker("version", "-f", "{{.Server.Version}}"),
                "runtimes": docker("info", "-f", "{{json .Runtimes}}", check=False),
            },
            "endpoint": self.args.endpoint,
            "cluster": self.args.cluster,
            "container_instance": instance,
            "tasks": self.args.tasks,
            "poll_ms": self.args.poll_ms,
            "docker_run_to_running": summary(dock),
            "modes": {},
        }
        if dock_runsc:
            result["docker_run_runsc_to_running"] = summary(dock_runsc)
        for mode in tds:
            r = {"run_task_to_running": summary(client[mode]), "server_created_to_started": summary(server[mode])}
            for p in ("p50", "p99"):
                r[f"ratio_{p}"] = round(r["run_task_to_running"][f"{p}_ms"] / result["docker_run_to_running"][f"{p}_ms"], 2)
            result["modes"][mode] = r
        # The bridge figures under their former names, for bench/summary.py.
        if "bridge" in result["modes"]:
            b = result["modes"]["bridge"]
            result["berth_run_task_to_running"] = b["run_task_to_running"]
            result["berth_server_created_to_started"] = b["server_created_to_started"]
            result["ratio_p50"], result["ratio_p99"] = b["ratio_p50"], b["ratio_p99"]
        return result


def print_table(r: dict) -> None:
    rows = []
    for mode, m in r["modes"].items():
        rows.append((f"berth {mode} RunTask → RUNNING (client)", m["run_task_to_running"], m["ratio_p50"]))
        rows.append((f"berth {mode} createdAt → startedAt (server)", m["server_created_to_started"], None))
    rows.append(("docker run -d → running", r["docker_run_to_running"], 1.0))
    if "docker_run_runsc_to_running" in r:
        s = r["docker_run_runsc_to_running"]
        rows.append(("docker run -d --runtime runsc --network none", s, s["p50_ms"] / r["docker_run_to_running"]["p50_ms"]))
    print(f"\nTask start latency, {r['tasks']} tasks each, cached local image, alternating (poll every {r['poll_ms']} ms)")
    print(f"{'':46s} {'p50 ms':>9s} {'p90 ms':>9s} {'p99 ms':>9s} {'max ms':>9s} {'p50 ratio':>10s}")
    for name, s, ratio in rows:
        ratio_text = f"{ratio:9.2f}x" if ratio is not None else ""
        print(f"{name:46s} {s['p50_ms']:9.1f} {s['p90_ms']:9.1f} {s['p99_ms']:9.1f} {s['max_ms']:9.1f} {ratio_text:>10s}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--cluster", default="default")
    ap.add_argument("--tasks", type=int, default=50)
    ap.add_argument("--poll-ms", type=float, default=10.0)
    ap.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    ap.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID", "test"))
    ap.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--modes", default="bridge,awsvpc,fargate",
                    help="comma-separated kinds of task: bridge, awsvpc, fargate")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    args.modes = [m for m in args.modes.split(",") if m]
    if not args.modes or any(m not in ("bridge", "awsvpc", "fargate") for m in args.modes):
        ap.error("--modes lists bridge, awsvpc and/or fargate")
    if args.tasks < 2:
        ap.error("--tasks must be at least 2")
    result = Bench(args).run()
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
