#!/usr/bin/env python3
"""Service controller convergence with hollow container instances.

Starts a release `berth server` on a temporary data dir (with a short
`--agent-grace-period-secs`) and `--procs` hollow agent processes hosting
`--instances` container instances between them, waits until every instance
is connected, then:

1. cold start: creates `--services` REPLICA services with desiredCount
   `--desired` (concurrent boto3 clients) and measures the time from the
   first CreateService until every service reports runningCount ==
   desiredCount (DescribeServices by name, 10 per call);
2. instance loss: SIGKILLs one hollow agent process (1/procs of the
   instances, 10 % with 10 processes) and measures the time until the
   server marks those instances disconnected, until their tasks are STOPPED
   (after the grace period), and until every service is back to
   runningCount == desiredCount with no task left on a lost instance
   (DescribeContainerInstances of the lost instances: runningTasksCount +
   pendingTasksCount == 0).

Each phase is bounded by `--max-seconds`; a phase that does not converge in
time is reported as failed with how far it got. Also records the server's
peak RSS (VmHWM) and CPU seconds.

Writes bench/out/services_converge.json. Usually run through bench/run.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hollow import Clients, GuardTripped, HollowAgents, RssGuard
from placement import HERE, Server, client, proc_cpu_seconds, raise_nofile, vm_hwm_mib, wait_connected

CLUSTER = "bench-services"
FAMILY = "bench-services"
TASK_CPU = 128
TASK_MEMORY = 256
PER_INSTANCE = 4096 // TASK_CPU  # hollow instances register 4 cores by default


def log(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


def describe_services(pool: cf.ThreadPoolExecutor, clients: Clients, names: list, desired: int) -> dict:
    """DescribeServices for every name, 10 per call, in parallel."""

    def batch(chunk):
        return clients.get().describe_services(cluster=CLUSTER, services=chunk)

    converged = running = pending = missing = 0
    for r in pool.map(batch, [names[i:i + 10] for i in range(0, len(names), 10)]):
        missing += len(r.get("failures", []))
        for s in r["services"]:
            running += s.get("runningCount", 0)
            pending += s.get("pendingCount", 0)
            if s.get("status") == "ACTIVE" and s.get("desiredCount") == desired and s.get("runningCount") == desired:
                converged += 1
    return {"converged": converged, "running": running, "pending": pending, "missing": missing}


def cluster_tasks(clients: Clients) -> dict:
    """The cluster's own RUNNING/PENDING task counts (one DescribeClusters
    call): the store's truth, which the services' counts follow."""
    try:
        c = clients.get().describe_clusters(clusters=[CLUSTER])["clusters"][0]
    except Exception:  # noqa: BLE001 - informative only
        return {}
    return {"cluster_running": c.get("runningTasksCount"), "cluster_pending": c.get("pendingTasksCount")}


def describe_instances(pool: cf.ThreadPoolExecutor, clients: Clients, arns: list) -> dict:
    def batch(chunk):
        return clients.get().describe_container_instances(cluster=CLUSTER, containerInstances=chunk)

    disconnected = tasks = 0
    for r in pool.map(batch, [arns[i:i + 100] for i in range(0, len(arns), 100)]):
        for inst in r["containerInstances"]:
            if not inst.get("agentConnected"):
                disconnected += 1
            tasks += inst.get("runningTasksCount", 0) + inst.get("pendingTasksCount", 0)
    return {"disconnected": disconnected, "tasks_on_lost": tasks}


def create_services(clients: Clients, names: list, desired: int, concurrency: int) -> dict:
    errors: list = []

    def one(name):
        try:
            clients.get().create_service(cluster=CLUSTER, serviceName=name, taskDefinition=FAMILY,
                                         desiredCount=desired, launchType="EC2", schedulingStrategy="REPLICA")
        except Exception as e:  # noqa: BLE001 - reported
            errors.append(repr(e)[:300])

    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, names))
    return {"create_wall_s": round(time.monotonic() - t0, 2), "create_errors": len(errors),
            "first_create_error": errors[0] if errors else None}


def cold_start(args, server: Server, clients: Clients, guard: RssGuard, names: list) -> dict:
    cpu0 = proc_cpu_seconds(server.proc.pid)
    t0 = time.monotonic()
    row = create_services(clients, names, args.desired, args.concurrency)
    log(f"{len(names)} CreateService calls in {row['create_wall_s']} s ({row['create_errors']} errors)")
    last: dict = {}
    polls = 0
    with cf.ThreadPoolExecutor(args.poll_concurrency) as pool:
        while True:
            guard.check()
            p0 = time.monotonic()
            try:
                last = describe_services(pool, clients, names, args.desired)
                last.update(cluster_tasks(clients))
            except Exception as e:  # noqa: BLE001 - a slow or failed poll is retried until the bound
                log(f"(a poll failed: {e!r:.120})")
                last = last or {"converged": 0, "running": None, "pending": None}
            polls += 1
            elapsed = time.monotonic() - t0
            if last["converged"] == len(names):
                row.update(ok=True, converge_s=round(elapsed, 1), last_poll_s=round(time.monotonic() - p0, 2))
                break
            if elapsed > args.max_seconds:
                row.update(ok=False, error=f"not converged within --max-seconds {args.max_seconds:.0f}")
                break
            if polls % 10 == 0:
                log(f"cold start, {elapsed:.0f} s: {last['converged']}/{len(names)} services converged, "
                    f"{last['running']} tasks running, {last['pending']} pending (cluster: "
                    f"{last.get('cluster_running')} running, {last.get('cluster_pending')} pending)")
            time.sleep(max(0.0, args.poll_interval - (time.monotonic() - p0)))
    row.update(services_converged=last["converged"], tasks_running=last["running"], tasks_pending=last["pending"],
               cluster_running=last.get("cluster_running"), cluster_pending=last.get("cluster_pending"), polls=polls)
    cpu1 = proc_cpu_seconds(server.proc.pid)
    row["server_cpu_s"] = round(cpu1 - cpu0, 1) if cpu0 is not None and cpu1 is not None else None
    return row


def instance_loss(args, server: Server, clients: Clients, guard: RssGuard, agents: HollowAgents,
                  names: list) -> dict:
    lost = agents.instance_arns(0)
    row: dict = {"killed_process_instances": agents.procs[0][2], "lost_instances": len(lost)}
    if not lost:
        row.update(ok=False, error="no container instance ARN found in the killed process's data dir")
        return row
    cpu0 = proc_cpu_seconds(server.proc.pid)
    t0 = time.monotonic()
    agents.kill(0)
    polls = 0
    min_running = None
    last_s: dict = {}
    last_i: dict = {}
    with cf.ThreadPoolExecutor(args.poll_concurrency) as pool:
        while True:
            guard.check()
            p0 = time.monotonic()
            try:
                last_i = describe_instances(pool, clients, lost)
                last_s = describe_services(pool, clients, names, args.desired)
                last_s.update(cluster_tasks(clients))
            except Exception as e:  # noqa: BLE001 - a slow or failed poll is retried until the bound
                log(f"(a poll failed: {e!r:.120})")
                if time.monotonic() - t0 > args.max_seconds:
                    row.update(ok=False, error=f"not recovered within --max-seconds {args.max_seconds:.0f}")
                    break
                time.sleep(args.poll_interval)
                continue
            polls += 1
            elapsed = time.monotonic() - t0
            min_running = last_s["running"] if min_running is None else min(min_running, last_s["running"])
            if "disconnected_s" not in row and last_i["disconnected"] == len(lost):
                row["disconnected_s"] = round(elapsed, 1)
            if "lost_tasks_stopped_s" not in row and last_i["tasks_on_lost"] == 0:
                row["lost_tasks_stopped_s"] = round(elapsed, 1)
            if (last_i["disconnected"] == len(lost) and last_i["tasks_on_lost"] == 0
                    and last_s["converged"] == len(names)):
                row.update(ok=True, recovered_s=round(elapsed, 1), last_poll_s=round(time.monotonic() - p0, 2))
                break
            if elapsed > args.max_seconds:
                row.update(ok=False, error=f"not recovered within --max-seconds {args.max_seconds:.0f}")
                break
            if polls % 10 == 0:
                log(f"after the loss, {elapsed:.0f} s: {last_i['disconnected']}/{len(lost)} disconnected, "
                    f"{last_i['tasks_on_lost']} tasks on them, {last_s['converged']}/{len(names)} services at "
                    f"{args.desired} running")
            time.sleep(max(0.0, args.poll_interval - (time.monotonic() - p0)))
    row.update(services_converged=last_s.get("converged"), tasks_running=last_s.get("running"),
               tasks_pending=last_s.get("pending"), lost_disconnected=last_i.get("disconnected"),
               tasks_on_lost=last_i.get("tasks_on_lost"), min_tasks_running_seen=min_running,
               cluster_running=last_s.get("cluster_running"), cluster_pending=last_s.get("cluster_pending"),
               polls=polls)
    cpu1 = proc_cpu_seconds(server.proc.pid)
    row["server_cpu_s"] = round(cpu1 - cpu0, 1) if cpu0 is not None and cpu1 is not None else None
    return row


def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="berth-bench-services-"))
    server = Server(args.berth_bin, work, ("--agent-grace-period-secs", str(args.grace_period)))
    agents = None
    guard = RssGuard(server, args.max_server_rss_mib)
    result: dict = {}
    try:
        ecs = client(server)
        ecs.create_cluster(clusterName=CLUSTER)
        ecs.register_task_definition(
            family=FAMILY, requiresCompatibilities=["EC2"], networkMode="bridge",
            containerDefinitions=[{"name": "app", "image": "busybox", "cpu": TASK_CPU, "memory": TASK_MEMORY,
                                   "essential": True}],
        )
        agents = HollowAgents(args.berth_bin, server, CLUSTER, args.instances, args.procs, work, args.hollow_delay)
        try:
            # A progress check must not outlast the bound by a whole 120 s read timeout.
            progress = client(server, read_timeout=min(30.0, args.connect_timeout))
            result["connect_s"] = round(wait_connected(progress, args.instances, args.connect_timeout,
                                                     server.proc.pid, args.max_server_rss_mib, CLUSTER), 1)
        except TimeoutError as e:
            result["error"] = f"hollow instances did not all connect: {e}"
            return result
        log(f"{args.instances} hollow instances in {len(agents.procs)} processes connected in "
            f"{result['connect_s']} s")
        clients = Clients(server)
        names = [f"svc-{i:05d}" for i in range(args.services)]
        result["cold"] = cold_start(args, server, clients, guard, names)
        c = result["cold"]
        log(f"cold start: {c['services_converged']}/{args.services} services converged"
            + (f" in {c['converge_s']} s" if c["ok"] else f" ({c['error']})"))
        if c["ok"] and args.procs > 1:
            result["loss"] = instance_loss(args, server, clients, guard, agents, names)
            lo = result["loss"]
            log(f"instance loss: disconnected after {lo.get('disconnected_s')} s, tasks stopped after "
                f"{lo.get('lost_tasks_stopped_s')} s, " + (f"recovered after {lo['recovered_s']} s" if lo["ok"]
                                                          else lo["error"]))
        elif args.procs <= 1:
            result["loss"] = {"ok": False, "error": "needs --procs 2 or more"}
        else:
            result["loss"] = {"ok": False, "error": "skipped: the cold start did not converge"}
        try:
            cl = ecs.describe_clusters(clusters=[CLUSTER])["clusters"][0]
            result["cluster_running_tasks"] = cl.get("runningTasksCount")
            result["cluster_pending_tasks"] = cl.get("pendingTasksCount")
        except Exception as e:  # noqa: BLE001 - informative only
            result["cluster_error"] = repr(e)[:200]
    except GuardTripped as e:
        result["error"] = str(e)
    except Exception as e:  # noqa: BLE001 - keep what was measured; the guard's reason wins below
        result["error"] = f"{e!r:.300}"
    finally:
        result["server_peak_rss_mib"] = vm_hwm_mib(server.proc.pid)
        result["server_cpu_s"] = (round(proc_cpu_seconds(server.proc.pid), 1)
                                  if proc_cpu_seconds(server.proc.pid) is not None else None)
        if guard.tripped:
            result["server_peak_rss_mib"] = round(guard.max_seen, 1)
            result["error"] = guard.tripped
        guard.stop()
        if agents is not None:
            result["agent_process_peak_rss_mib"] = agents.peak_rss_mib()
            agents.stop()
        server.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth-bin", default=str(HERE.parent / "target" / "release" / "berth"))
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--desired", type=int, default=10, help="desiredCount of every service")
    ap.add_argument("--instances", type=int, default=1000, help="hollow instances in all")
    ap.add_argument("--procs", type=int, default=10, help="hollow agent processes (one is killed: 1/procs of the "
                                                        "instances are lost)")
    ap.add_argument("--max-seconds", type=float, default=300.0, help="bound of each phase (cold start, loss)")
    ap.add_argument("--grace-period", type=int, default=5, help="the server's --agent-grace-period-secs")
    ap.add_argument("--concurrency", type=int, default=16, help="concurrent CreateService clients")
    ap.add_argument("--poll-concurrency", type=int, default=8, help="concurrent DescribeServices calls per poll")
    ap.add_argument("--poll-interval", type=float, default=1.0, help="s between the starts of two polls")
    ap.add_argument("--hollow-delay", default="50-200", help="hollow task start/stop delay, ms")
    ap.add_argument("--connect-timeout", type=float, default=240.0, help="s to wait for the instances")
    ap.add_argument("--max-server-rss-mib", type=float, default=6144.0,
                    help="kill the server and give up when it grows past this (protects a shared machine)")
    ap.add_argument("--out", default=str(HERE / "out" / "services_converge.json"))
    args = ap.parse_args()
    if args.services < 1 or args.desired < 1 or args.instances < 1 or args.procs < 1:
        ap.error("--services, --desired, --instances and --procs must be positive")
    if args.grace_period < 1:
        ap.error("--grace-period must be at least 1 s")
    nofile = raise_nofile()
    per_proc = -(-args.instances // args.procs)
    if per_proc + 512 > nofile or args.instances + 512 > nofile:
        print(f"warning: {args.instances} instances need about one open file each (limit {nofile})", file=sys.stderr)
    tasks = args.services * args.desired
    after_loss = args.instances - per_proc if args.procs > 1 else args.instances
    if tasks > after_loss * PER_INSTANCE:
        print(f"warning: {tasks} tasks do not fit on {after_loss} instances ({PER_INSTANCE} tasks each)",
              file=sys.stderr)
    print(f"services: {args.services} services x {args.desired} on {args.instances} hollow instances in "
          f"{args.procs} processes ...", file=sys.stderr, flush=True)
    try:
        result = run(args)
    except Exception as e:  # noqa: BLE001 - reported like a failed size
        result = {"error": f"{e!r:.300}"}
    result.update(services=args.services, desired=args.desired, instances=args.instances, procs=args.procs)
    ok = "error" not in result and result.get("cold", {}).get("ok") and result.get("loss", {}).get("ok")
    print()
    if "error" in result:
        print(f"failed: {result['error']}")
    for phase, key in (("cold", "converge_s"), ("loss", "recovered_s")):
        r = result.get(phase)
        if r is None:
            continue
        what = f"{r[key]} s" if r.get("ok") else f"FAILED ({r.get('error')})"
        print(f"{phase:5}  {what}  services at desired: {r.get('services_converged')}/{args.services}  "
              f"services' runningCount sum: {r.get('tasks_running')}  cluster RUNNING tasks: "
              f"{r.get('cluster_running')}  server CPU: {r.get('server_cpu_s')} s")
    loss = result.get("loss", {})
    if "disconnected_s" in loss:
        print(f"loss: {loss['lost_instances']} instances disconnected after {loss['disconnected_s']} s, "
              f"their tasks STOPPED after {loss.get('lost_tasks_stopped_s')} s (grace period {args.grace_period} s)")
    print(f"server peak RSS {result.get('server_peak_rss_mib')} MiB, CPU {result.get('server_cpu_s')} s")
    report = {
        "benchmark": "services",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "nofile": nofile},
        "settings": {"services": args.services, "desired": args.desired, "instances": args.instances,
                     "procs": args.procs, "max_seconds": args.max_seconds, "grace_period_s": args.grace_period,
                     "concurrency": args.concurrency, "poll_interval_s": args.poll_interval,
                     "hollow_delay_ms": args.hollow_delay, "task_cpu": TASK_CPU, "task_memory": TASK_MEMORY,
                     "note": "server, hollow agents and boto3 clients share the machine"},
        "result": result,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
