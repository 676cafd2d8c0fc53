#!/usr/bin/env python3
"""Memory of the server with many instances and tasks, and of one real agent.

1. server: a release `berth server` on a temporary data dir and `--procs`
   hollow agent processes hosting `--instances` container instances; once
   every instance is connected (and `--settle` seconds later) the server's
   RSS is "idle"; then concurrent clients issue RunTask (count 10) until
   `--tasks` tasks are placed, and the harness waits until the cluster
   reports them all RUNNING (DescribeClusters runningTasksCount, with
   pendingTasksCount 0). Reported: RSS idle, RSS with the tasks RUNNING,
   and VmHWM (the peak). Guards: the server is killed when its RSS passes
   `--max-server-rss-mib`, and each phase is bounded (`--connect-timeout`,
   `--max-seconds`); a size that does not finish is reported with how far
   it got.
2. agent: another release `berth server` and one real `berth agent`
   (runtime docker) on this machine's Docker; `--agent-tasks` tasks of a
   local busybox image (`docker import` of a rootfs with /bin/busybox,
   `sleep`) are started with RunTask and waited for until RUNNING; reported:
   the agent's RSS idle (connected, no task), with the tasks RUNNING, and its
   VmHWM. The containers carry the cluster label
   (com.amazonaws.ecs.cluster=<unique cluster>) and are removed afterwards,
   with the image.

Writes bench/out/memory.json. Usually run through bench/run.
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
import threading
import time
import uuid
from pathlib import Path

from hollow import Clients, GuardTripped, HollowAgents, RssGuard, stop_proc
from placement import HERE, Server, client, proc_cpu_seconds, raise_nofile, vm_hwm_mib, vm_rss_mib, wait_connected
from task_start import docker, make_image

CLUSTER = "bench-memory"
FAMILY = "bench-memory"
TASK_CPU = 128
TASK_MEMORY = 128
LABEL_CLUSTER = "com.amazonaws.ecs.cluster"


def log(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


def cluster_counts(ecs, cluster: str) -> tuple:
    c = ecs.describe_clusters(clusters=[cluster])["clusters"][0]
    return c.get("runningTasksCount", 0), c.get("pendingTasksCount", 0)


def place_tasks(server: Server, clients: Clients, guard: RssGuard, tasks: int, concurrency: int,
                deadline: float) -> dict:
    """RunTask count 10 (the last call fewer) from `concurrency` threads until
    `tasks` are placed or `deadline` passes."""
    calls = (tasks + 9) // 10
    lock = threading.Lock()
    placed = [0]
    failures: list = []
    errors: list = []

    def one(i):
        if time.monotonic() > deadline or guard.tripped:
            return
        count = min(10, tasks - i * 10)
        try:
            r = clients.get().run_task(cluster=CLUSTER, taskDefinition=FAMILY, count=count, launchType="EC2",
                                       startedBy="bench-memory")
        except Exception as e:  # noqa: BLE001 - reported
            with lock:
                errors.append(repr(e)[:300])
            return
        with lock:
            placed[0] += len(r.get("tasks", []))
            failures.extend(f.get("reason") for f in r.get("failures", []))
            if i % 500 == 499:
                log(f"{placed[0]} tasks placed")

    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(calls)))
    wall = time.monotonic() - t0
    return {"tasks_placed": placed[0], "place_wall_s": round(wall, 1),
            "tasks_per_s": round(placed[0] / wall, 1) if wall else None,
            "failures": len(failures), "first_failure": failures[0] if failures else None,
            "errors": len(errors), "first_error": errors[0] if errors else None}


def server_part(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="berth-bench-memory-"))
    server = Server(args.berth_bin, work)
    guard = RssGuard(server, args.max_server_rss_mib)
    agents = None
    row: dict = {"instances": args.instances, "tasks": args.tasks}
    try:
        ecs = client(server)
        ecs.create_cluster(clusterName=CLUSTER)
        ecs.register_task_definition(
            family=FAMILY, requiresCompatibilities=["EC2"], networkMode="bridge",
            containerDefinitions=[{"name": "app", "image": "busybox", "cpu": TASK_CPU, "memory": TASK_MEMORY,
                                   "essential": True}],
        )
        row["rss_empty_mib"] = round(vm_rss_mib(server.proc.pid) or 0, 1)
        agents = HollowAgents(args.berth_bin, server, CLUSTER, args.instances, args.procs, work, args.hollow_delay,
                              ("--hollow-cores", str(args.hollow_cores),
                               "--hollow-memory-mib", str(args.hollow_memory_mib)))
        try:
            # A progress check must not outlast the bound by a whole 120 s read timeout.
            progress = client(server, read_timeout=min(30.0, args.connect_timeout))
            row["connect_s"] = round(wait_connected(progress, args.instances, args.connect_timeout,
                                                     server.proc.pid, args.max_server_rss_mib, CLUSTER), 1)
        except TimeoutError as e:
            row["error"] = f"hollow instances did not all connect: {e}"
            return row
        log(f"{args.instances} hollow instances connected in {row['connect_s']} s")
        guard.check()
        time.sleep(args.settle)  # a measurement pause, not synchronisation: let startup garbage be returned
        row["rss_idle_mib"] = round(vm_rss_mib(server.proc.pid) or 0, 1)
        row["hwm_after_connect_mib"] = vm_hwm_mib(server.proc.pid)
        log(f"server RSS idle with {args.instances} instances: {row['rss_idle_mib']} MiB")
        clients = Clients(server)
        cpu0 = proc_cpu_seconds(server.proc.pid)
        t0 = time.monotonic()
        deadline = t0 + args.max_seconds
        row.update(place_tasks(server, clients, guard, args.tasks, args.concurrency, deadline))
        guard.check()
        log(f"{row['tasks_placed']} tasks placed in {row['place_wall_s']} s ({row['tasks_per_s']} tasks/s)")
        running = pending = 0
        run_deadline = time.monotonic() + args.run_wait_seconds
        while True:
            guard.check()
            try:
                running, pending = cluster_counts(ecs, CLUSTER)
            except Exception as e:  # noqa: BLE001 - a slow answer is retried until the deadline
                log(f"(DescribeClusters failed: {e!r:.120})")
            if running >= row["tasks_placed"] and pending == 0:
                row["all_running_s"] = round(time.monotonic() - t0, 1)
                break
            if time.monotonic() > run_deadline:
                break
            time.sleep(1.0)
        row["tasks_running"] = running
        row["tasks_pending"] = pending
        cpu1 = proc_cpu_seconds(server.proc.pid)
        row["server_cpu_s"] = round(cpu1 - cpu0, 1) if cpu0 is not None and cpu1 is not None else None
        row["rss_with_tasks_mib"] = round(vm_rss_mib(server.proc.pid) or 0, 1)
        if running < args.tasks or pending:
            row["error"] = (f"{running} of {args.tasks} tasks RUNNING ({pending} pending): placing is bounded by "
                            f"--max-seconds {args.max_seconds:.0f}, the wait for RUNNING by --run-wait-seconds "
                            f"{args.run_wait_seconds:.0f}")
        log(f"{running} tasks RUNNING; server RSS {row['rss_with_tasks_mib']} MiB")
        return row
    except GuardTripped as e:
        row["error"] = str(e)
        return row
    except Exception as e:  # noqa: BLE001 - keep what was measured; the guard's reason wins below
        row["error"] = f"{e!r:.300}"
        return row
    finally:
        row["server_peak_rss_mib"] = round(guard.max_seen, 1) if guard.tripped else vm_hwm_mib(server.proc.pid)
        if guard.tripped:
            row["error"] = guard.tripped
        guard.stop()
        if agents is not None:
            row["agent_process_peak_rss_mib"] = agents.peak_rss_mib()
            agents.stop()
        server.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)


def agent_part(args) -> dict:
    run_id = uuid.uuid4().hex[:10]
    cluster = f"bench-memory-agent-{run_id}"
    work = Path(tempfile.mkdtemp(prefix="berth-bench-memory-agent-"))
    row: dict = {"tasks": args.agent_tasks}
    server = agent = None
    image = None
    try:
        image = make_image(run_id)
        server = Server(args.berth_bin, work)
        ecs = client(server)
        ecs.create_cluster(clusterName=cluster)
        ecs.register_task_definition(
            family=FAMILY, requiresCompatibilities=["EC2"], networkMode="bridge",
            containerDefinitions=[{"name": "app", "image": image, "cpu": 10, "memory": 32, "essential": True,
                                   "command": ["sleep", "3600"]}],
        )
        env = dict(os.environ, AWS_ACCESS_KEY_ID=server.key, AWS_SECRET_ACCESS_KEY=server.secret,
                   BERTH_LOG=os.environ.get("BERTH_LOG", "warn"))
        env.pop("AWS_SESSION_TOKEN", None)
        agent = subprocess.Popen(
            [args.berth_bin, "agent", "--server", server.endpoint, "--cluster", cluster,
             "--data-dir", str(work / "agent")],
            stdout=subprocess.DEVNULL, stderr=open(work / "agent.err", "w"), stdin=subprocess.DEVNULL, env=env,
        )
        row["connect_s"] = round(wait_connected(ecs, 1, 60, server.proc.pid, args.max_server_rss_mib, cluster), 1)
        time.sleep(args.settle)  # a measurement pause, not synchronisation
        row["agent_rss_idle_mib"] = round(vm_rss_mib(agent.pid) or 0, 1)
        t0 = time.monotonic()
        placed = 0
        for left in range(args.agent_tasks, 0, -10):
            r = ecs.run_task(cluster=cluster, taskDefinition=FAMILY, count=min(10, left), launchType="EC2",
                             startedBy="bench-memory")
            placed += len(r["tasks"])
            if r.get("failures"):
                row["first_failure"] = r["failures"][0].get("reason")
        row["tasks_placed"] = placed
        running = pending = 0
        while time.monotonic() - t0 < args.agent_max_seconds:
            running, pending = cluster_counts(ecs, cluster)
            if running >= placed and pending == 0:
                row["all_running_s"] = round(time.monotonic() - t0, 1)
                break
            time.sleep(0.5)
        row["tasks_running"] = running
        if running < args.agent_tasks:
            row["error"] = f"{running} of {args.agent_tasks} tasks RUNNING within {args.agent_max_seconds:.0f} s"
        time.sleep(args.settle)  # the agent's steady state with its tasks running
        row["agent_rss_with_tasks_mib"] = round(vm_rss_mib(agent.pid) or 0, 1)
        row["agent_peak_rss_mib"] = vm_hwm_mib(agent.pid)
        row["agent_cpu_s"] = round(proc_cpu_seconds(agent.pid) or 0, 2)
        log(f"berth agent with {running} docker tasks: RSS {row['agent_rss_with_tasks_mib']} MiB, "
            f"peak {row['agent_peak_rss_mib']} MiB")
        return row
    except Exception as e:  # noqa: BLE001 - reported
        row["error"] = f"{e!r:.300}"
        return row
    finally:
        if agent is not None:
            stop_proc(agent)
        if server is not None:
            server.stop()
        ids = docker("ps", "-aq", "--filter", f"label={LABEL_CLUSTER}={cluster}", check=False).split()
        if ids:
            docker("rm", "-f", "-v", *ids, check=False)
        vols = docker("volume", "ls", "-q", "--filter", f"label={LABEL_CLUSTER}={cluster}", check=False).split()
        if vols:
            docker("volume", "rm", "-f", *vols, check=False)
        if image:
            docker("rmi", "-f", image, check=False)
        subprocess.run(["rm", "-rf", str(work)], check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth-bin", default=str(HERE.parent / "target" / "release" / "berth"))
    ap.add_argument("--parts", default="server,agent", help="server, agent or both")
    ap.add_argument("--instances", type=int, default=10000, help="hollow instances in all")
    ap.add_argument("--tasks", type=int, default=100000, help="tasks to place and run")
    ap.add_argument("--procs", type=int, default=10, help="hollow agent processes")
    ap.add_argument("--hollow-cores", type=int, default=4, help="cores each hollow instance registers")
    ap.add_argument("--hollow-memory-mib", type=int, default=16384, help="memory each hollow instance registers")
    ap.add_argument("--hollow-delay", default="50-200", help="hollow task start/stop delay, ms")
    ap.add_argument("--concurrency", type=int, default=16, help="concurrent RunTask clients")
    ap.add_argument("--connect-timeout", type=float, default=240.0, help="s to wait for the instances")
    ap.add_argument("--max-seconds", type=float, default=300.0, help="bound of placing the tasks (RunTask calls)")
    ap.add_argument("--run-wait-seconds", type=float, default=60.0,
                    help="bound of the wait, after placing, until every placed task is RUNNING")
    ap.add_argument("--max-server-rss-mib", type=float, default=6144.0,
                    help="kill the server and give up when it grows past this (protects a shared machine)")
    ap.add_argument("--settle", type=float, default=3.0, help="s to wait before an 'idle' or steady RSS sample")
    ap.add_argument("--agent-tasks", type=int, default=20, help="docker tasks of the real agent")
    ap.add_argument("--agent-max-seconds", type=float, default=120.0)
    ap.add_argument("--out", default=str(HERE / "out" / "memory.json"))
    args = ap.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    for p in parts:
        if p not in ("server", "agent"):
            ap.error(f"unknown part {p}: use server, agent")
    nofile = raise_nofile()
    if args.instances + 512 > nofile:
        print(f"warning: {args.instances} instances need about one open file each in the server (limit {nofile})",
              file=sys.stderr)
    fit = min(args.hollow_cores * 1024 // TASK_CPU, (args.hollow_memory_mib * 95 // 100) // TASK_MEMORY)
    if args.tasks > args.instances * fit:
        print(f"warning: {args.tasks} tasks do not fit on {args.instances} instances ({fit} each)", file=sys.stderr)
    report: dict = {
        "benchmark": "memory",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "nofile": nofile},
        "settings": {"instances": args.instances, "tasks": args.tasks, "procs": args.procs,
                     "hollow_cores": args.hollow_cores, "hollow_memory_mib": args.hollow_memory_mib,
                     "hollow_delay_ms": args.hollow_delay, "concurrency": args.concurrency,
                     "max_seconds": args.max_seconds, "run_wait_seconds": args.run_wait_seconds,
                     "max_server_rss_mib": args.max_server_rss_mib,
                     "task_cpu": TASK_CPU, "task_memory": TASK_MEMORY, "agent_tasks": args.agent_tasks},
    }
    if "server" in parts:
        print(f"memory: berth server with {args.instances} hollow instances and {args.tasks} tasks ...",
              file=sys.stderr, flush=True)
        try:
            report["server"] = server_part(args)
        except Exception as e:  # noqa: BLE001 - one part failing must not lose the other
            report["server"] = {"instances": args.instances, "tasks": args.tasks, "error": f"{e!r:.300}"}
    if "agent" in parts:
        print(f"memory: one berth agent (docker) running {args.agent_tasks} tasks ...", file=sys.stderr, flush=True)
        report["agent"] = agent_part(args)
    print()
    s = report.get("server")
    if s:
        print(f"server, {s['instances']} instances / {s['tasks']} tasks: RSS idle {s.get('rss_idle_mib')} MiB, "
              f"with {s.get('tasks_running')} tasks RUNNING {s.get('rss_with_tasks_mib')} MiB, "
              f"peak (VmHWM) {s.get('server_peak_rss_mib')} MiB" + (f"  FAILED: {s['error']}" if "error" in s else ""))
    a = report.get("agent")
    if a:
        print(f"agent, {a.get('tasks_running')} docker tasks: RSS idle {a.get('agent_rss_idle_mib')} MiB, "
              f"with tasks {a.get('agent_rss_with_tasks_mib')} MiB, peak {a.get('agent_peak_rss_mib')} MiB"
              + (f"  FAILED: {a['error']}" if "error" in a else ""))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {out}")
    bad = any("error" in report.get(p, {}) for p in parts)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
