#!/usr/bin/env python3
"""Berth next to moto_server on the same ECS calls.

Starts a release `berth server` (temp data dir) with a hollow agent of a few
instances, and `moto_server` (PyPI moto[server]) on another loopback port;
sets up the same cluster, task definition, container instance(s) and 10
tasks on both, then drives DescribeTasks (10 tasks), ListTasks and RunTask
(count 1) from the same signed clients as bench/api.py, and prints
requests/s, p50/p99 for each and the ratio Berth / moto (requests/s; higher
is better for Berth). Writes bench/out/api_compare.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import botocore.config

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import api  # noqa: E402
import placement  # noqa: E402

CLUSTER = "bench-api"
FAMILY = "bench-api-task"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ecs_client(endpoint, key, secret):
    return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret,
                                 region_name="us-east-1").client(
        "ecs", endpoint_url=endpoint, config=botocore.config.Config(retries={"total_max_attempts": 1}))


def setup(ecs, register_instance: bool, ec2=None) -> list:
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(
        family=FAMILY, requiresCompatibilities=["EC2"], networkMode="bridge",
        containerDefinitions=[{"name": "app", "image": "busybox", "cpu": 16, "memory": 16, "essential": True}])
    if register_instance:
        # moto checks that the instance exists in its EC2.
        image = ec2.describe_images()["Images"][0]["ImageId"]
        instance_id = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        doc = json.dumps({"instanceId": instance_id, "availabilityZone": "us-east-1a",
                          "region": "us-east-1", "instanceType": "m5.24xlarge",
                          "accountId": "123456789012", "imageId": "ami-12345678"})
        ecs.register_container_instance(
            cluster=CLUSTER, instanceIdentityDocument=doc,
            totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 1_000_000},
                            {"name": "MEMORY", "type": "INTEGER", "integerValue": 1_000_000}])
    r = ecs.run_task(cluster=CLUSTER, taskDefinition=FAMILY, count=10, launchType="EC2")
    return [t["taskArn"] for t in r["tasks"]]


def drive(args, name, endpoint, key, secret, pid, tasks) -> list:
    ns = argparse.Namespace(
        processes=args.processes, concurrency=args.concurrency, duration=args.duration, signer="lean",
        access_key=key, secret_key=secret, region="us-east-1", server_pid=pid,
        host=endpoint.split("://", 1)[1])
    workloads = [("DescribeTasks", {"cluster": CLUSTER, "tasks": tasks}), ("ListTasks", {"cluster": CLUSTER})]
    if not args.no_run_task:
        workloads.append(("RunTask", {"cluster": CLUSTER, "taskDefinition": FAMILY, "count": 1,
                                      "launchType": "EC2"}))
    rows = []
    for op, body in workloads:
        print(f"  {name} {op} ...", file=sys.stderr, flush=True)
        row = api.run_operation(ns, op, body)
        row["server"] = name
        rows.append(row)
    return rows


def wait_http(port: int, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("moto_server exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("moto_server did not listen within 60 s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth-bin", default=str(HERE.parent / "target" / "release" / "berth"))
    ap.add_argument("--moto-bin", default=shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server"))
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--instances", type=int, default=10, help="hollow instances behind Berth")
    ap.add_argument("--no-run-task", action="store_true")
    ap.add_argument("--out", default=str(HERE / "out" / "api_compare.json"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="berth-api-compare-"))
    server = agent = moto = None
    rows = []
    notes = []
    try:
        server = placement.Server(args.berth_bin, work)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=server.key, AWS_SECRET_ACCESS_KEY=server.secret)
        env.pop("AWS_SESSION_TOKEN", None)
        ecs = ecs_client(server.endpoint, server.key, server.secret)
        ecs.create_cluster(clusterName=CLUSTER)
        agent = subprocess.Popen(
            [args.berth_bin, "agent", "--runtime", "hollow", "--instances", str(args.instances), "--server",
             server.endpoint, "--cluster", CLUSTER, "--data-dir", str(work / "agents")],
            stdout=subprocess.DEVNULL, stderr=open(work / "agent.err", "w"), stdin=subprocess.DEVNULL, env=env)
        placement.CLUSTER = CLUSTER
        placement.wait_connected(ecs, args.instances, 120, server.proc.pid, 4096, cluster=CLUSTER)
        tasks = setup(ecs, register_instance=False)
        rows += drive(args, "berth", server.endpoint, server.key, server.secret, server.proc.pid, tasks)

        port = free_port()
        moto = subprocess.Popen([args.moto_bin, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                                stderr=open(work / "moto.err", "w"), stdin=subprocess.DEVNULL)
        wait_http(port, moto)
        moto_ep = f"http://127.0.0.1:{port}"
        mecs = ecs_client(moto_ep, "test", "test")
        try:
            mec2 = boto3.client("ec2", endpoint_url=moto_ep, region_name="us-east-1", aws_access_key_id="test",
                                aws_secret_access_key="test")
            mtasks = setup(mecs, register_instance=True, ec2=mec2)
        except Exception as e:  # noqa: BLE001 - reported
            notes.append(f"moto could not place tasks ({e!r:.200}); RunTask is not compared")
            args.no_run_task = True
            mtasks = []
        rows += drive(args, "moto", moto_ep, "test", "test", moto.pid, mtasks)
    finally:
        for p in (agent, moto):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    by = {(r["server"], r["operation"]): r for r in rows}
    ratios = {}
    print(f"\n{'operation':14}  {'berth req/s':>11}  {'p50/p99 ms':>14}  {'moto req/s':>10}  {'p50/p99 ms':>14}  "
          f"{'ratio':>6}")
    for op in ("DescribeTasks", "ListTasks", "RunTask"):
        b, m = by.get(("berth", op)), by.get(("moto", op))
        if not b or not m:
            continue
        ratio = round(b["requests_per_s"] / m["requests_per_s"], 2) if m["requests_per_s"] else None
        ratios[op] = ratio
        print(f"{op:14}  {b['requests_per_s']:>11}  {b['p50_ms']:>6}/{b['p99_ms']:<7}  {m['requests_per_s']:>10}  "
              f"{m['p50_ms']:>6}/{m['p99_ms']:<7}  {ratio!s:>6}")
    for n in notes:
        print(n)
    report = {
        "benchmark": "api_compare",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "settings": {"concurrency": args.concurrency, "duration_s": args.duration,
                     "hollow_instances": args.instances},
        "ratio_berth_over_moto_requests_per_s": ratios,
        "notes": notes,
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {out}")
    return 1 if any(r["errors"] or not r["requests"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
