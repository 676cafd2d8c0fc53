#!/usr/bin/env python3
"""Load balancer benchmark: the Berth ELBv2 proxy against haproxy and nginx.

Two backends (one nginx process, worker_processes 1, two server blocks on
ephemeral ports answering a 2-byte body) sit behind three front ends, each
balancing round robin over both with keep-alive connections to them:

* Berth: a release `berth up` with an
  application load balancer, an HTTP listener and a target group holding
  the two backends as `ip` targets (127.0.0.1:PORT), created through boto3;
  the run starts once DescribeTargetHealth shows both healthy;
* haproxy (Debian's package): `mode http`, `balance roundrobin`, one
  frontend, keep-alive to the servers, its default thread count (one per
  CPU);
* nginx (Debian's package) as a reverse proxy: `worker_processes auto`, an
  upstream with `keepalive 64`, HTTP/1.1 to the backends.

Threads, like for like: Berth's load balancer serves its client
connections on one single-threaded Tokio runtime per CPU (its
`berth-lb-{i}` threads; the server's own multi-threaded runtime, a worker
per CPU, only accepts them and answers the API), haproxy runs one thread
per CPU (its default `nbthread`), nginx one worker process per CPU
(`auto`); none is pinned. On the 2-core machine each proxy has 2 threads
doing its work.

The load generator is wrk (Debian's package): `--threads T --connections C
--duration D`, keep-alive, with `bench/lb_latency.lua` printing the
latency's p50, p90, p99, p99.9 and maximum. wrk runs as this script's
child, in the same session as the front ends: with the kernel's
autogroup scheduling (`/proc/sys/kernel/sched_autogroup_enabled`) a wrk
started from another terminal is in a group of its own, which the
scheduler shares the CPUs with group against group, and its threads then
wait for whole slices of the other group (tens of milliseconds of
latency that no front causes). Every front end is measured `--rounds`
times, in alternation (Berth, haproxy, nginx; then haproxy, nginx, Berth;
…: each round starts with the next front), so a drift of the machine hits
each alike; the figures are the medians of the rounds and the ratios are
against haproxy's. Beside them, each front's rounds are set against
haproxy's round of the same number, measured seconds apart: on a shared
host whose speed drifts over a run, the median of those paired ratios and
the count of rounds won are the steadier comparison. Client, proxies and
backends share the machine's cores, as they do for every front end.

`--fronts` may add `berth-alt`: a second `berth up` of the same binary,
with the settings of `--berth-alt-env` added to its environment (for
instance `BERTH_LB_SLICE_US=0`), measured in the same rounds; its rounds
are also set against berth's (`summary.berth-alt.paired_vs_berth`), which
measures what a setting does with the machine's drift paired out.

Writes bench/out/lb.json. Needs wrk, haproxy and nginx on PATH
(`apt-get install wrk haproxy nginx-light`) and a release berth
(`cargo build --release -p berth`, or --berth-bin). Prints the load
average before and after the rounds (the machine's other work skews every
front alike only when it is steady).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import botocore.config
import requests

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"


def free_ports(n: int) -> list[int]:
    held = [socket.socket() for _ in range(n)]
    try:
        for s in held:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def wait_for(what: str, fn, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if fn():
                return
        except (OSError, requests.RequestException):
            pass
        time.sleep(0.1)  # polling interval, bounded by the deadline
    raise SystemExit(f"{what} not ready within {timeout} s")


def answers(port: int) -> bool:
    return requests.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200


def start_backends(work: Path, ports: list[int]) -> subprocess.Popen:
    servers = "\n".join(
        f"  server {{ listen 127.0.0.1:{p}; access_log off; location / {{ return 200 'ok'; }} }}" for p in ports
    )
    conf = work / "backends.conf"
    conf.write_text(
        f"""daemon off;
worker_processes 1;
pid {work}/backends.pid;
error_log {work}/backends.err warn;
events {{ worker_connections 4096; }}
http {{
  keepalive_requests 1000000;
  default_type text/plain;
{servers}
}}
"""
    )
    return subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)], stderr=subprocess.DEVNULL)


def start_haproxy(work: Path, port: int, backends: list[int]) -> subprocess.Popen:
    servers = "\n".join(f"  server b{i} 127.0.0.1:{p}" for i, p in enumerate(backends))
    conf = work / "haproxy.cfg"
    conf.write_text(
        f"""global
  maxconn 8192
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:{port}
  default_backend be
backend be
  balance roundrobin
  http-reuse always
{servers}
"""
    )
    return subprocess.Popen(["haproxy", "-db", "-f", str(conf)], stderr=subprocess.DEVNULL)


def start_nginx_proxy(work: Path, port: int, backends: list[int]) -> subprocess.Popen:
    servers = "\n".join(f"    server 127.0.0.1:{p};" for p in backends)
    conf = work / "proxy.conf"
    conf.write_text(
        f"""daemon off;
worker_processes auto;
pid {work}/proxy.pid;
error_log {work}/proxy.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  upstream be {{
{servers}
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""
    )
    return subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)], stderr=subprocess.DEVNULL)


def start_berth(work: Path, berth_bin: str, port: int, backends: list[int], procs: list,
                extra_env: dict[str, str] | None = None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_ROOT_")}
    env.update(BERTH_LB_BIND="127.0.0.1", BERTH_LOG="warn")
    env.update(extra_env or {})
    work.mkdir(exist_ok=True)
    out = open(work / "berth.out", "w")
    proc = subprocess.Popen(
        [berth_bin, "up", "--listen", "127.0.0.1:0", "--data-dir", str(work / "berth-data"),
         "--agent-cpu", "256", "--agent-memory", "256"],
        stdout=out, stderr=open(work / "berth.err", "w"), stdin=subprocess.DEVNULL, env=env,
    )
    procs.append(proc)  # stopped by the caller even if the set-up below fails
    endpoint = ""

    def started() -> bool:
        nonlocal endpoint
        m = re.search(r"^\s*endpoint:\s*(\S+)", (work / "berth.out").read_text(), re.M)
        endpoint = m.group(1) if m else ""
        if proc.poll() is not None:
            raise SystemExit(f"berth exited: {(work / 'berth.err').read_text()[-2000:]}")
        return bool(endpoint)

    wait_for("berth", started, 60)
    elb = boto3.client(
        "elbv2", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    lb = elb.create_load_balancer(Name="bench")["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(
        Name="bench", Protocol="HTTP", Port=80, TargetType="ip", VpcId="vpc-bench",
        HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": p} for p in backends])
    elb.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=port, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}]
    )

    def healthy() -> bool:
        states = [d["TargetHealth"]["State"] for d in elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]]
        return states == ["healthy"] * len(backends)

    wait_for("berth targets healthy", healthy, 60)


LATENCY_SCRIPT = ROOT / "bench" / "lb_latency.lua"


def parse_latency(text: str) -> dict:
    """The percentiles `bench/lb_latency.lua` printed, in milliseconds."""
    m = re.search(r"^latency_ms (\{.*\})$", text, re.M)
    if not m:
        raise SystemExit(f"no latency line in wrk's output:\n{text}")
    got = json.loads(m.group(1))
    return {"p50_ms": got["p50"], "p90_ms": got["p90"], "p99_ms": got["p99"], "p999_ms": got["p99_9"], "max_ms": got["max"]}


def tree_cpu_seconds(root: int) -> float:
    """utime + stime of a process and its children (nginx's workers), now."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    pids, total = {root}, 0
    while True:
        more = {p for p, (ppid, _) in stats.items() if ppid in pids and p not in pids}
        if not more:
            break
        pids |= more
    for p in pids:
        if p in stats:
            total += stats[p][1]
    return total / tick


def run_wrk(port: int, args, pid: int | None = None) -> dict:
    cpu0 = tree_cpu_seconds(pid) if pid else None
    out = subprocess.run(
        ["wrk", f"--threads={args.threads}", f"--connections={args.connections}", f"--duration={args.duration}s",
         "--script", str(LATENCY_SCRIPT), f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = 0
    for m in re.finditer(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    res = {"rps": rps, **parse_latency(out), "errors": errors}
    if pid:
        requests_done = int(re.search(r"(\d+) requests in", out).group(1))
        res["cpu_us_per_request"] = (tree_cpu_seconds(pid) - cpu0) / max(requests_done, 1) * 1e6
    return res


def paired(rounds: list[dict], ref: list[dict]) -> dict:
    """A front's rounds against haproxy's of the same round, measured
    seconds apart: a drift of the machine over the run (a neighbour's load
    on a shared host moves every front's requests/s by tens of percent)
    cancels out of each round's ratio, which the medians over the whole run
    do not remove."""
    rps = [a["rps"] / b["rps"] for a, b in zip(rounds, ref)]
    p99 = [a["p99_ms"] / b["p99_ms"] for a, b in zip(rounds, ref)]
    return {
        "rounds": len(rps),
        "rps_ratio_median": round(statistics.median(rps), 3),
        "rps_ratio_min": round(min(rps), 3),
        "rps_ratio_max": round(max(rps), 3),
        "p99_ratio_median": round(statistics.median(p99), 3),
        "p99_ratio_min": round(min(p99), 3),
        "p99_ratio_max": round(max(p99), 3),
        "rounds_rps_at_least": sum(r >= 1.0 for r in rps),
        "rounds_p99_at_most": sum(r <= 1.0 for r in p99),
    }


def ratios_text(pr: dict) -> str:
    """A paired comparison's medians and ranges, as the summary prints them."""
    return (f"req/s × median {pr['rps_ratio_median']:.3f} ({pr['rps_ratio_min']:.3f}–{pr['rps_ratio_max']:.3f}), "
            f"p99 × median {pr['p99_ratio_median']:.3f} ({pr['p99_ratio_min']:.3f}–{pr['p99_ratio_max']:.3f})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth-bin", default=str(ROOT / "target" / "release" / "berth"))
    ap.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--fronts", default="berth,haproxy,nginx", help="comma-separated; haproxy is the reference")
    ap.add_argument("--berth-alt-env", default="", metavar="'K=V …'",
                    help="the front berth-alt: a second berth up, its environment with these settings added "
                         "(for instance BERTH_LB_SLICE_US=0), to set against berth round by round")
    ap.add_argument("--hold", action="store_true", help="start the front ends, print their ports and pids, wait for Ctrl-C")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "lb.json"))
    args = ap.parse_args()
    for tool in ("wrk", "haproxy", "nginx"):
        if not shutil.which(tool):
            print(f"{tool} not found: apt-get install wrk haproxy nginx-light", file=sys.stderr)
            return 2

    work = Path(tempfile.mkdtemp(prefix="berth-lb-bench."))
    procs: list[subprocess.Popen] = []
    try:
        b1, b2, p_berth, p_alt, p_haproxy, p_nginx = free_ports(6)
        backends = [b1, b2]
        procs.append(start_backends(work, backends))
        for p in backends:
            wait_for(f"backend {p}", lambda p=p: answers(p), 20)
        wanted = args.fronts.split(",")
        pids: dict[str, int] = {}
        fronts = {n: p for n, p in (("berth", p_berth), ("berth-alt", p_alt), ("haproxy", p_haproxy), ("nginx", p_nginx)) if n in wanted}
        if "berth" in fronts:
            start_berth(work, args.berth_bin, p_berth, backends, procs)
            pids["berth"] = procs[-1].pid
        if "berth-alt" in fronts:
            alt_env = dict(kv.split("=", 1) for kv in args.berth_alt_env.split())
            start_berth(work / "alt", args.berth_bin, p_alt, backends, procs, alt_env)
            pids["berth-alt"] = procs[-1].pid
        if "haproxy" in fronts:
            procs.append(start_haproxy(work, p_haproxy, backends))
            pids["haproxy"] = procs[-1].pid
        if "nginx" in fronts:
            procs.append(start_nginx_proxy(work, p_nginx, backends))
            pids["nginx"] = procs[-1].pid
        for name, port in fronts.items():
            wait_for(name, lambda port=port: answers(port), 30)
            run_wrk(port, argparse.Namespace(**{**vars(args), "duration": 1}))  # warm-up
        if args.hold:
            print(json.dumps({"ports": fronts, "pids": pids}), flush=True)
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT, signal.SIGTERM])
            signal.sigwait([signal.SIGINT, signal.SIGTERM])
            return 0
        runs: dict[str, list[dict]] = {name: [] for name in fronts}
        load_before = os.getloadavg()
        order = list(fronts)
        for r in range(args.rounds):
            # Each round starts with the next front, so that none always
            # follows the same one.
            for name in order[r % len(order):] + order[:r % len(order)]:
                port = fronts[name]
                res = run_wrk(port, args, pids[name])
                runs[name].append(res)
                print(f"round {r + 1} {name}: {res['rps']:.0f} req/s, p50 {res['p50_ms']:.2f} ms, "
                      f"p99 {res['p99_ms']:.2f} ms, p99.9 {res['p999_ms']:.2f} ms, max {res['max_ms']:.2f} ms, "
                      f"errors {res['errors']}, "
                      f"proxy CPU {res['cpu_us_per_request']:.1f} µs/request", flush=True)
        summary = {}
        for name, rs in runs.items():
            summary[name] = {k: statistics.median(x[k] for x in rs) for k in ("rps", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "cpu_us_per_request")}
            summary[name]["errors"] = sum(x["errors"] for x in rs)
        ref = summary.get("haproxy")
        for name, s in summary.items():
            s["rps_vs_haproxy"] = round(s["rps"] / ref["rps"], 3) if ref else float("nan")
            s["p99_vs_haproxy"] = round(s["p99_ms"] / ref["p99_ms"], 3) if ref else float("nan")
            if ref and name != "haproxy":
                s["paired"] = paired(runs[name], runs["haproxy"])
        if "berth" in runs and "berth-alt" in runs:
            summary["berth-alt"]["paired_vs_berth"] = paired(runs["berth-alt"], runs["berth"])
        load_after = os.getloadavg()
        print()
        print(f"load average (1, 5, 15 min): before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
              f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
        print(f"{'front':<8} {'req/s':>10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'max ms':>8} "
              f"{'errors':>7} {'µs/req':>7} {'req/s ×':>8} {'p99 ×':>7}")
        for name, s in summary.items():
            print(f"{name:<8} {s['rps']:>10.0f} {s['p50_ms']:>8.2f} {s['p90_ms']:>8.2f} {s['p99_ms']:>8.2f} "
                  f"{s['p999_ms']:>9.2f} {s['max_ms']:>8.2f} {s['errors']:>7} "
                  f"{s['cpu_us_per_request']:>7.1f} {s['rps_vs_haproxy']:>8.3f} {s['p99_vs_haproxy']:>7.3f}")
        for name, s in summary.items():
            if "paired" in s:
                pr = s["paired"]
                print(f"{name}, round by round against haproxy's round: {ratios_text(pr)}; "
                      f"{pr['rounds_rps_at_least']} of {pr['rounds']} rounds with req/s ≥ haproxy's, "
                      f"{pr['rounds_p99_at_most']} with p99 ≤ haproxy's")
        if "berth-alt" in summary and "paired_vs_berth" in summary["berth-alt"]:
            pr = summary["berth-alt"]["paired_vs_berth"]
            print(f"berth-alt ({args.berth_alt_env or 'no setting'}), round by round against berth's round: "
                  f"{ratios_text(pr)}")
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"benchmark": "lb", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                   "args": vars(args), "cpus": os.cpu_count(), "load_average": {"before": load_before, "after": load_after},
                                   "runs": runs, "summary": summary}, indent=2))
        print(f"\nwritten: {out}")
        return 1 if any(s["errors"] for s in summary.values()) else 0
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
