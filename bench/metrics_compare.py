#!/usr/bin/env python3
"""CloudWatch metrics: Berth next to moto_server, the same workload on each.

Starts a release `berth up` (temporary data dir) and `moto_server` (PyPI
moto[server]), each on its own loopback port, and runs bench/metrics.py
against each in turn with the same arguments: PutMetricData of --metrics ×
--minutes one-minute datapoints (pre-serialized and signed with --raw, the
default here, so the figure is the server's and not boto3's), then
GetMetricData of every metric (500 MetricStat queries a call) and one
SUM(METRICS()) per 499 metrics. Ratios are Berth / moto for the rates and
moto / Berth for the read times (higher is better for Berth either way).

Then PutMetricData capacity with bench/metrics_load.py (`wrk` replaying
pre-signed 1,000-datapoint requests over --load-connections connections for
--load-seconds, in each of --load-protocols; the stored sums verified
afterwards): the figure the issue's ≥ 20× is about, without a Python client
setting the pace.

moto keeps every datapoint as a Python object and scans them for each
query; a day of 10,000 metrics takes it hours, so the side-by-side size is
smaller (default 1,000 metrics × 60 minutes); bench/run-metrics measures
Berth alone at the large size.

Writes bench/out/metrics_compare.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, fn, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.1)  # polling interval, bounded by the deadline
    raise SystemExit(f"{what} not ready within {timeout} s")


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def run_load(endpoint: str, args, pid: int) -> dict:
    sys.path.insert(0, str(ROOT / "bench"))
    import metrics_load

    return {p: metrics_load.measure(endpoint, p, connections=args.load_connections, duration=args.load_seconds,
                                    server_pid=pid)
            for p in args.load_protocols.split(",") if p}


def run_metrics(endpoint: str, args, out: Path) -> dict:
    cmd = [sys.executable, str(ROOT / "bench" / "metrics.py"), "--endpoint", endpoint, "--metrics", str(args.metrics),
           "--minutes", str(args.minutes), "--clients", str(args.clients), "--out", str(out)]
    if not args.boto3:
        cmd.append("--raw")
    subprocess.run(cmd, check=True, timeout=args.max_seconds)
    return json.loads(out.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth-bin", default=str(ROOT / "target" / "release" / "berth"))
    ap.add_argument("--metrics", type=int, default=1000)
    ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--boto3", action="store_true", help="time boto3's calls too (default: --raw, the server alone)")
    ap.add_argument("--max-seconds", type=int, default=900, help="bound on each server's run")
    ap.add_argument("--load-protocols", default="cbor,json",
                    help="PutMetricData capacity runs (wrk): comma-separated cbor, json, query; empty: none")
    ap.add_argument("--load-connections", type=int, default=8)
    ap.add_argument("--load-seconds", type=int, default=10)
    ap.add_argument("--skip-metrics-py", action="store_true", help="only the wrk capacity runs")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "metrics_compare.json"))
    args = ap.parse_args()
    moto_bin = Path(sys.executable).parent / "moto_server"
    if not moto_bin.exists():
        print(f"no {moto_bin}: {sys.executable} -m pip install 'moto[server]'", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="berth-metrics-compare."))
    procs = []
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_ROOT_")}
        env["BERTH_LOG"] = "warn"
        berth = subprocess.Popen(
            [args.berth_bin, "up", "--listen", "127.0.0.1:0", "--data-dir", str(work / "data"),
             "--agent-cpu", "256", "--agent-memory", "256"],
            stdout=open(work / "berth.out", "w"), stderr=open(work / "berth.err", "w"), stdin=subprocess.DEVNULL,
            env=env,
        )
        procs.append(berth)
        endpoint = {}

        def started() -> bool:
            m = re.search(r"^\s*endpoint:\s*(\S+)", (work / "berth.out").read_text(), re.M)
            if berth.poll() is not None:
                raise SystemExit(f"berth exited: {(work / 'berth.err').read_text()[-2000:]}")
            if m:
                endpoint["berth"] = m.group(1)
            return bool(m)

        wait_for("berth", started, 60)
        port = free_port()
        moto = subprocess.Popen([str(moto_bin), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(moto)
        pids = {"berth": berth.pid, "moto": moto.pid}
        wait_for("moto_server", lambda: accepts(port), 60)
        endpoint["moto"] = f"http://127.0.0.1:{port}"

        results = {}
        loads = {}
        for name in ("berth", "moto"):
            print(f"== {name} ({endpoint[name]})", flush=True)
            loads[name] = run_load(endpoint[name], args, pids[name])
            for p, r in loads[name].items():
                print(f"   PutMetricData capacity, {p}: {r['datapoints_per_second']:,} datapoints/s, "
                      f"server CPU {r['server_cpu_us_per_request']:,} µs per request (verified: {r['verified']})",
                      flush=True)
            if not args.skip_metrics_py:
                results[name] = run_metrics(endpoint[name], args, work / f"{name}.json")
        ratios = {}
        print()
        print(f"{'figure':<40} {'berth':>12} {'moto':>12} {'berth/moto':>10}")
        for p in loads["berth"]:
            b, m = loads["berth"][p]["datapoints_per_second"], loads["moto"][p]["datapoints_per_second"]
            ratios[f"load_{p}_datapoints_per_second"] = round(b / m, 2) if m else None
            print(f"{'PutMetricData capacity (wrk), ' + p:<40} {b:>12,} {m:>12,} "
                  f"{ratios[f'load_{p}_datapoints_per_second'] or 'moto: 0':>10}")
        if results:
            b, m = results["berth"], results["moto"]
            ratios.update({
                "put_datapoints_per_second": round(b["put_datapoints_per_second"] / m["put_datapoints_per_second"], 2),
                "get_metric_data_points_per_second": round(
                    b["get_metric_data_points_per_second"] / m["get_metric_data_points_per_second"], 2),
                "sum_metrics_seconds": round(m["sum_metrics_seconds"] / b["sum_metrics_seconds"], 2),
            })
            print(f"{'PutMetricData datapoints/s (Python)':<40} {b['put_datapoints_per_second']:>12,} "
                  f"{m['put_datapoints_per_second']:>12,} {ratios['put_datapoints_per_second']:>10}")
            print(f"{'GetMetricData datapoints/s':<40} {b['get_metric_data_points_per_second']:>12,} "
                  f"{m['get_metric_data_points_per_second']:>12,} {ratios['get_metric_data_points_per_second']:>10}")
            print(f"{'SUM(METRICS()) reads, s (moto/berth)':<40} {b['sum_metrics_seconds']:>12} "
                  f"{m['sum_metrics_seconds']:>12} {ratios['sum_metrics_seconds']:>10}")
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({
            "benchmark": "metrics_compare",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "args": vars(args), "cpus": os.cpu_count(), "load_average": os.getloadavg(), "results": results,
            "load": loads, "ratios_berth_over_moto": ratios,
        }, indent=2) + "\n")
        print(f"\nwritten: {out}")
        return 0
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
