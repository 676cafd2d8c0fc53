#!/usr/bin/env python3
"""API throughput and latency benchmark for a running Berth.

Drives DescribeTaskDefinition and ListClusters (awsJson 1.1, SigV4-signed,
one signature per request) from N concurrent clients for a fixed time each,
then prints requests/s, p50/p99/max latency, and the CPU used by the
clients and (with --server-pid) by the server, as a table and as JSON
(bench/out/api.json).

The clients are spread over several processes (threads in one CPython
process share one GIL and would measure Python, not Berth); each thread
keeps one keep-alive connection. The default signer is a lean SigV4
implementation (the signing key is derived once per day, as AWS SDKs do);
`--signer botocore` uses botocore's SigV4Auth instead.

Usually run through bench/run-api, which builds a release binary and starts
a server on a temporary data dir.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import hmac
import http.client
import json
import multiprocessing as mp
import os
import platform
import queue
import resource
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ECS_TARGET = "AmazonEC2ContainerServiceV20141113"
CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_DURATION = 120.0
FAMILY = "bench-web"
CLUSTERS = 20


# ---------------------------------------------------------------- signing


class LeanSigner:
    """SigV4 for `POST /` with a JSON body: content-type, host, x-amz-date, x-amz-target."""

    SIGNED_HEADERS = "content-type;host;x-amz-date;x-amz-target"

    def __init__(self, access_key: str, secret_key: str, region: str, service: str):
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.service = service
        self._day = None
        self._key = None

    def _signing_key(self, day: str) -> bytes:
        if day != self._day:
            k = hmac.new(f"AWS4{self.secret_key}".encode(), day.encode(), hashlib.sha256).digest()
            for part in (self.region, self.service, "aws4_request"):
                k = hmac.new(k, part.encode(), hashlib.sha256).digest()
            self._day, self._key = day, k
        return self._key

    def headers(self, host: str, target: str, body: bytes) -> dict:
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        day = amz_date[:8]
        canonical = (
            f"POST\n/\n\n"
            f"content-type:{CONTENT_TYPE}\nhost:{host}\nx-amz-date:{amz_date}\nx-amz-target:{target}\n\n"
            f"{self.SIGNED_HEADERS}\n{hashlib.sha256(body).hexdigest()}"
        )
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        return {
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-Amz-Date": amz_date,
            "X-Amz-Target": target,
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                f"SignedHeaders={self.SIGNED_HEADERS}, Signature={signature}"
            ),
        }


class BotocoreSigner:
    """The same request signed by botocore's SigV4Auth (slower, for cross-checking)."""

    def __init__(self, access_key: str, secret_key: str, region: str, service: str):
        import botocore.auth
        import botocore.awsrequest
        import botocore.credentials

        self._awsrequest = botocore.awsrequest
        self._auth = botocore.auth.SigV4Auth(
            botocore.credentials.Credentials(access_key, secret_key), service, region
        )

    def headers(self, host: str, target: str, body: bytes) -> dict:
        req = self._awsrequest.AWSRequest(
            method="POST",
            url=f"http://{host}/",
            data=body,
            headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": target},
        )
        self._auth.add_auth(req)
        headers = dict(req.headers.items())
        headers["Host"] = host
        return headers


SIGNERS = {"lean": LeanSigner, "botocore": BotocoreSigner}


# ---------------------------------------------------------------- load generation


def _worker_process(cfg: dict, threads: int, start_barrier, results) -> None:
    """Runs `threads` clients in this process; reports latencies and CPU time."""
    host = cfg["host"]
    hostname, port = host.rsplit(":", 1)
    target = f"{ECS_TARGET}.{cfg['operation']}"
    body = json.dumps(cfg["body"]).encode()
    latencies = [[] for _ in range(threads)]
    errors = [0] * threads
    first_error: list = []
    ready = threading.Barrier(threads + 1)
    go = threading.Event()
    deadline = [0.0]

    def client(i: int) -> None:
        signer = SIGNERS[cfg["signer"]](cfg["access_key"], cfg["secret_key"], cfg["region"], "ecs")
        conn = http.client.HTTPConnection(hostname, int(port), timeout=60)

        def one() -> tuple[int, bytes]:
            nonlocal conn
            try:
                conn.request("POST", "/", body=body, headers=signer.headers(host, target, body))
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = http.client.HTTPConnection(hostname, int(port), timeout=60)
                return 0, repr(e).encode()

        try:
            status, data = one()  # warm-up, and a check that the request is accepted
            if status != 200:
                first_error.append(f"warm-up request failed: HTTP {status}: {data[:300]!r}")
        finally:
            ready.wait()
        go.wait()
        end = deadline[0]
        lat = latencies[i]
        clock = time.perf_counter
        while True:
            t0 = clock()
            if t0 >= end:
                break
            status, data = one()
            if status == 200:
                lat.append(clock() - t0)
            else:
                errors[i] += 1
                if not first_error:
                    first_error.append(f"HTTP {status}: {data[:300]!r}")
        conn.close()

    pool = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    ready.wait()
    start_barrier.wait()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t_start = time.perf_counter()
    deadline[0] = t_start + cfg["duration"]
    go.set()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t_start
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    results.put(
        {
            "latencies": [x for lat in latencies for x in lat],
            "errors": sum(errors),
            "first_error": first_error[0] if first_error else None,
            "cpu_seconds": cpu,
            "wall_seconds": wall,
        }
    )


def _proc_cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of a process (all its threads), from /proc/PID/stat."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the ")" the fields start at field 3 (state): utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list, p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def run_operation(args, operation: str, body: dict) -> dict:
    """`args.concurrency` clients on `operation` for `args.duration` seconds."""
    procs_n = max(1, min(args.processes, args.concurrency))
    per_proc = [args.concurrency // procs_n + (1 if i < args.concurrency % procs_n else 0) for i in range(procs_n)]
    cfg = {
        "host": args.host,
        "operation": operation,
        "body": body,
        "duration": args.duration,
        "signer": args.signer,
        "access_key": args.access_key,
        "secret_key": args.secret_key,
        "region": args.region,
    }
    ctx = mp.get_context("fork")
    start_barrier = ctx.Barrier(procs_n + 1)
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker_process, args=(cfg, n, start_barrier, results)) for n in per_proc]
    for p in procs:
        p.start()
    start_barrier.wait(timeout=120)
    server0 = _proc_cpu_seconds(args.server_pid)
    t0 = time.perf_counter()
    parts = []
    for _ in procs:
        try:
            parts.append(results.get(timeout=args.duration + 120))
        except queue.Empty:
            raise SystemExit(f"{operation}: a client process did not report back")
    wall = time.perf_counter() - t0
    server1 = _proc_cpu_seconds(args.server_pid)
    for p in procs:
        p.join(timeout=30)
    lat = sorted(x for part in parts for x in part["latencies"])
    errors = sum(part["errors"] for part in parts)
    first_error = next((part["first_error"] for part in parts if part["first_error"]), None)
    client_cpu = sum(part["cpu_seconds"] for part in parts)
    measured = max(part["wall_seconds"] for part in parts)
    row = {
        "operation": operation,
        "concurrency": args.concurrency,
        "client_processes": procs_n,
        "duration_s": round(measured, 3),
        "requests": len(lat),
        "errors": errors,
        "requests_per_s": round(len(lat) / measured, 1) if measured else 0.0,
        "p50_ms": round(percentile(lat, 50) * 1000, 3),
        "p99_ms": round(percentile(lat, 99) * 1000, 3),
        "max_ms": round(lat[-1] * 1000, 3) if lat else None,
        "client_cpu_percent": round(client_cpu / measured * 100, 1) if measured else None,
        "server_cpu_percent": (
            round((server1 - server0) / wall * 100, 1) if server0 is not None and server1 is not None else None
        ),
    }
    # CPU per request: comparable across runs even when clients and server share the cores.
    if lat:
        row["client_cpu_us_per_request"] = round(client_cpu / len(lat) * 1e6, 1)
        if server0 is not None and server1 is not None:
            row["server_cpu_us_per_request"] = round((server1 - server0) / len(lat) * 1e6, 1)
    if first_error:
        row["first_error"] = first_error
    return row


# ---------------------------------------------------------------- setup and report


def setup(args) -> None:
    """Creates what the operations read: CLUSTERS clusters and a task definition family."""
    import boto3
    import botocore.config

    ecs = boto3.session.Session(
        aws_access_key_id=args.access_key, aws_secret_access_key=args.secret_key, region_name=args.region
    ).client("ecs", endpoint_url=args.endpoint, config=botocore.config.Config(retries={"total_max_attempts": 1}))
    for i in range(CLUSTERS):
        ecs.create_cluster(clusterName=f"bench-cluster-{i:02d}", tags=[{"key": "bench", "value": "api"}])
    ecs.register_task_definition(
        family=FAMILY,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "web",
                "image": "public.ecr.aws/nginx/nginx:1.25",
                "portMappings": [{"containerPort": 80}],
                "environment": [{"name": "APP_ENV", "value": "bench"}],
                "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 10},
            },
            {
                "name": "sidecar",
                "image": "busybox:1.36",
                "essential": False,
                "dependsOn": [{"containerName": "web", "condition": "START"}],
            },
        ],
    )


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or None
    except OSError:
        return None


def print_table(rows: list) -> None:
    cols = [
        ("operation", "operation", "{}"),
        ("conc", "concurrency", "{}"),
        ("requests", "requests", "{}"),
        ("errors", "errors", "{}"),
        ("req/s", "requests_per_s", "{:.1f}"),
        ("p50 ms", "p50_ms", "{:.2f}"),
        ("p99 ms", "p99_ms", "{:.2f}"),
        ("max ms", "max_ms", "{:.2f}"),
        ("client CPU %", "client_cpu_percent", "{}"),
        ("server CPU %", "server_cpu_percent", "{}"),
        ("server CPU us/req", "server_cpu_us_per_request", "{}"),
    ]
    cells = [[h for h, _, _ in cols]] + [
        [("-" if r.get(k) is None else f.format(r[k])) for _, k, f in cols] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:4600")
    ap.add_argument("--concurrency", type=int, default=64, help="concurrent clients (threads), default 64")
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="client processes (default: CPUs)")
    ap.add_argument("--duration", type=float, default=10.0, help=f"seconds per operation (max {MAX_DURATION})")
    ap.add_argument("--signer", choices=sorted(SIGNERS), default="lean")
    ap.add_argument("--server-pid", type=int, help="the server's pid, to report its CPU use")
    ap.add_argument("--access-key", default=os.environ.get("BERTH_BENCH_ACCESS_KEY", "test"))
    ap.add_argument("--secret-key", default=os.environ.get("BERTH_BENCH_SECRET_KEY", "test"))
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "api.json"))
    ap.add_argument("--no-setup", action="store_true", help="the clusters and the family exist already")
    args = ap.parse_args()
    if not 0 < args.duration <= MAX_DURATION:
        ap.error(f"--duration must be in (0, {MAX_DURATION}]")
    if args.concurrency < 1:
        ap.error("--concurrency must be at least 1")
    url = urllib.parse.urlsplit(args.endpoint)
    if url.scheme != "http" or not url.port:
        ap.error("--endpoint must be http://HOST:PORT")
    args.host = url.netloc

    if not args.no_setup:
        setup(args)
    workloads = [
        ("DescribeTaskDefinition", {"taskDefinition": FAMILY}),
        ("ListClusters", {}),
    ]
    rows = []
    for op, body in workloads:
        print(f"running {op}: {args.concurrency} clients in {min(args.processes, args.concurrency)} processes "
              f"for {args.duration:g} s ...", file=sys.stderr, flush=True)
        rows.append(run_operation(args, op, body))

    print()
    print_table(rows)
    for r in rows:
        if r.get("first_error"):
            print(f"{r['operation']}: {r['errors']} errors, first: {r['first_error']}")
    report = {
        "benchmark": "api",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "settings": {
            "concurrency": args.concurrency,
            "client_processes": min(args.processes, args.concurrency),
            "duration_s": args.duration,
            "signer": args.signer,
            "note": "clients and server share the machine; one SigV4 signature per request",
        },
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {out}")
    return 1 if any(r["errors"] or not r["requests"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
