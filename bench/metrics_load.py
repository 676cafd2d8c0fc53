#!/usr/bin/env python3
"""PutMetricData capacity of a running server, with a load generator that is not the limit.

botocore serializes and signs --bodies PutMetricData requests once (1,000
datums each: 4 metrics with two dimensions × 250 one-minute timestamps,
every request its own metrics), in the protocol asked (rpcv2Cbor as botocore
sends it first, awsJson 1.0, awsQuery); `wrk` (C, one connection per
in-flight request) then replays them for --duration seconds over
--connections connections (bench/metrics_load.lua cycles through the
bodies). SigV4 signatures stay valid for 15 minutes and neither Berth nor
moto refuses a replayed one.

The figure is datapoints accepted per second: each answered 2xx request
counts its 1,000. So that a server that drops data cannot win, the data is
read back afterwards (GetMetricData, SampleCount and Sum of every metric
over the whole range): every request body sums to the same 24,500 over
its 1,000 datapoints, so the stored SampleCount must be 1,000 × n and the
stored Sum 24,500 × n for one n between the requests acknowledged and
those plus the ones still in flight when wrk stopped (at most
--connections).

With --server-pid (the server's process id, on this machine), the run
also reports the server's CPU time (user + system, every thread, from
/proc/PID/stat) spent during the replay, per acknowledged request: the
server's own cost, which the throughput on a shared machine does not
separate from the load generator's and the other processes'.

Standalone: `bench/metrics_load.py --endpoint http://127.0.0.1:PORT`
(credentials test/test, region us-east-1); bench/metrics_compare.py runs it
against Berth and moto_server in the same run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse
import uuid
from pathlib import Path

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.session
from botocore import serialize

HERE = Path(__file__).resolve().parent
PROTOCOLS = {"cbor": "smithy-rpc-v2-cbor", "json": "json", "query": "query"}
METRICS_PER_BODY = 4
MINUTES = 250
DATUMS = METRICS_PER_BODY * MINUTES
# Σ over 250 consecutive m of (c + m) % 50 is 5 × (0 + 1 + … + 49) whatever c is.
BODY_SUM = METRICS_PER_BODY * (MINUTES // 50) * sum(range(50))


def dimensions(run: str, body: int, k: int) -> list[dict]:
    # The run's tag in a dimension too: moto matches a query with dimensions on the name and
    # dimensions alone, not the namespace.
    return [{"Name": "Host", "Value": f"{run}-h{body:04d}-{k}"}, {"Name": "Zone", "Value": f"z{k % 3}"}]


def body_data(run: str, body: int, start: datetime.datetime) -> list[dict]:
    return [
        {"MetricName": "Load", "Dimensions": dimensions(run, body, k), "Timestamp": start + datetime.timedelta(minutes=m),
         "Value": float((body * 7 + k * 3 + m) % 50), "Unit": "Percent"}
        for k in range(METRICS_PER_BODY) for m in range(MINUTES)
    ]


def prepare(endpoint: str, protocol: str, run: str, bodies: int, start: datetime.datetime, out: Path) -> None:
    """Writes N.head and N.body for N < bodies: the signed requests."""
    model = botocore.session.get_session().get_service_model("cloudwatch")
    op = model.operation_model("PutMetricData")
    ser = serialize.create_serializer(PROTOCOLS[protocol])
    signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials("test", "test"), "monitoring", "us-east-1")
    base = urllib.parse.urlsplit(endpoint)
    out.mkdir(parents=True, exist_ok=True)
    for n in range(bodies):
        r = ser.serialize_to_request({"Namespace": f"BenchLoad/{run}", "MetricData": body_data(run, n, start)}, op)
        body = r["body"]
        headers = dict(r["headers"])
        if isinstance(body, dict):  # awsQuery: form fields
            body = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
        elif isinstance(body, str):
            body = body.encode()
        url = f"{base.scheme}://{base.netloc}{r['url_path']}"
        req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=body, headers=headers)
        signer.add_auth(req)
        lines = [f":path: {r['url_path']}", f"Host: {base.netloc}"]
        lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() not in ("host", "content-length")]
        (out / f"{n}.head").write_text("\n".join(lines) + "\n")
        (out / f"{n}.body").write_bytes(body)


def wrk(endpoint: str, work: Path, bodies: int, connections: int, threads: int, duration: int) -> dict:
    exe = shutil.which("wrk")
    if not exe:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    env = {"LOAD_DIR": str(work), "LOAD_COUNT": str(bodies), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [exe, "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "30s",
         "-s", str(HERE / "metrics_load.lua"), endpoint],
        env=env, capture_output=True, text=True, check=True, timeout=duration + 120)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not line:
        raise SystemExit(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")
    return json.loads(line[-1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads) so far, in seconds."""
    # /proc/PID/stat: the command name (field 2) may hold spaces; utime and stime are
    # fields 14 and 15, counted after its closing parenthesis.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stored(endpoint: str, run: str, bodies: int, start: datetime.datetime) -> tuple[float, float]:
    """Σ SampleCount and Σ Sum of every metric the bodies wrote, each read as one period over the
    whole range (moto scans every datapoint for each period of each query)."""
    cfg = botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=900)
    cw = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                               region_name="us-east-1").client("cloudwatch", endpoint_url=endpoint, config=cfg)
    queries = []
    for n in range(bodies):
        for k in range(METRICS_PER_BODY):
            metric = {"Namespace": f"BenchLoad/{run}", "MetricName": "Load", "Dimensions": dimensions(run, n, k)}
            for stat in ("SampleCount", "Sum"):
                queries.append({"Id": f"{stat[:3].lower()}_{n}_{k}",
                                "MetricStat": {"Metric": metric, "Period": MINUTES * 60, "Stat": stat}})
    totals = {"sam": 0.0, "sum": 0.0}
    end = start + datetime.timedelta(minutes=MINUTES)
    for i in range(0, len(queries), 500):
        kwargs = {"MetricDataQueries": queries[i:i + 500], "StartTime": start, "EndTime": end}
        while True:
            page = cw.get_metric_data(**kwargs)
            for r in page["MetricDataResults"]:
                totals[r["Id"][:3]] += sum(r["Values"])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return totals["sam"], totals["sum"]


def measure(endpoint: str, protocol: str = "cbor", bodies: int = 16, connections: int = 8, threads: int = 2,
            duration: int = 10, server_pid: int | None = None) -> dict:
    """One run: prepare, replay, verify. Raises if the stored data do not match the acknowledged requests."""
    run = f"{protocol}-{uuid.uuid4().hex[:8]}"
    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    start = now - datetime.timedelta(minutes=MINUTES + 5)
    work = Path(tempfile.mkdtemp(prefix="berth-metrics-load."))
    try:
        prepare(endpoint, protocol, run, bodies, start, work)
        cpu_before = cpu_seconds(server_pid) if server_pid else None
        load = wrk(endpoint, work, bodies, connections, threads, duration)
        cpu = cpu_seconds(server_pid) - cpu_before if server_pid else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = load["duration_us"] / 1e6
    failed = load["status_errors"] + load["read_errors"] + load["write_errors"] + load["timeouts"]
    acknowledged = load["requests"] - load["status_errors"]
    # A request still in flight when wrk stopped may still be being stored (moto stores datum by
    # datum): read again, a few times, until the figures are whole requests.
    for _ in range(3):
        count, total = stored(endpoint, run, bodies, start)
        n = count / DATUMS
        ok = (n == int(n) and total == n * BODY_SUM and acknowledged <= n <= acknowledged + connections)
        if ok:
            break
    result = {
        "protocol": protocol, "bodies": bodies, "connections": connections, "threads": threads,
        "seconds": round(seconds, 3), "requests_acknowledged": acknowledged, "failed": failed,
        "datapoints_per_second": round(acknowledged * DATUMS / seconds),
        "requests_stored": n, "stored_sum": total, "verified": ok and acknowledged > 0,
        "latency_p50_ms": load["p50_ms"], "latency_p99_ms": load["p99_ms"],
    }
    if cpu is not None:
        result["server_cpu_seconds"] = round(cpu, 2)
        result["server_cpu_us_per_request"] = round(cpu * 1e6 / acknowledged) if acknowledged else None
    if not ok:
        raise SystemExit(f"stored data do not match the acknowledged requests: {result}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--protocols", default="cbor", help="comma-separated: cbor, json, query")
    ap.add_argument("--bodies", type=int, default=16)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--server-pid", type=int, help="the server's process id: report its CPU time per request")
    args = ap.parse_args()
    for protocol in args.protocols.split(","):
        r = measure(args.endpoint, protocol, args.bodies, args.connections, args.threads, args.duration,
                    args.server_pid)
        print(json.dumps(r))


if __name__ == "__main__":
    main()
