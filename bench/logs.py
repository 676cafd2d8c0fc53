#!/usr/bin/env python3
"""CloudWatch Logs benchmark for a running Berth.

1. PutLogEvents throughput: --events events (default 1,000,000) in batches of
   --batch (default 10,000, the AWS maximum), spread over --streams streams,
   one client process per stream (boto3; one batch = one request, one
   durable SQLite transaction on the server). Reports events/s and MB/s.
2. FilterLogEvents over everything stored: a JSON pattern matching 0.1% of
   the events and a text pattern matching none, following nextToken to the
   end. Reports the wall time in ms of each full search.

Usually run through bench/run-logs (release build, temporary data dir).
Results: a table on stdout and bench/out/logs.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time
from pathlib import Path

import boto3
import botocore.config

GROUP = "/bench/logs"


def client(endpoint: str):
    cfg = botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=300, connect_timeout=10)
    return boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client("logs", endpoint_url=endpoint, config=cfg)


def message(stream: int, i: int) -> str:
    level = "error" if i % 1000 == 0 else "info"
    return json.dumps({"level": level, "stream": stream, "seq": i, "msg": "GET /items 12ms"})


def producer(args) -> tuple[int, float, int]:
    endpoint, stream, count, batch, base_ts = args
    logs = client(endpoint)
    name = f"s{stream}"
    logs.create_log_stream(logGroupName=GROUP, logStreamName=name)
    # Build the batches first so the timing measures the server, not json.dumps.
    batches = []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        batches.append([{"timestamp": base_ts + (start + i) // 100, "message": message(stream, start + i)} for i in range(n)])
    nbytes = sum(len(e["message"]) + 26 for b in batches for e in b)
    t0 = time.perf_counter()
    for b in batches:
        out = logs.put_log_events(logGroupName=GROUP, logStreamName=name, logEvents=b)
        if "rejectedLogEventsInfo" in out:
            raise RuntimeError(f"events rejected: {out['rejectedLogEventsInfo']}")
    return count, time.perf_counter() - t0, nbytes


def filter_all(logs, pattern: str) -> tuple[int, float, int]:
    t0 = time.perf_counter()
    found = 0
    pages = 0
    token = None
    while True:
        kwargs = {"logGroupName": GROUP, "filterPattern": pattern}
        if token:
            kwargs["nextToken"] = token
        out = logs.filter_log_events(**kwargs)
        pages += 1
        found += len(out["events"])
        token = out.get("nextToken")
        if not token:
            break
    return found, (time.perf_counter() - t0) * 1000, pages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "logs.json"))
    args = ap.parse_args()

    logs = client(args.endpoint)
    logs.create_log_group(logGroupName=GROUP)
    per_stream = args.events // args.streams
    base_ts = int(time.time() * 1000) - 6 * 3600 * 1000
    t0 = time.perf_counter()
    with mp.Pool(args.streams) as pool:
        results = pool.map(producer, [(args.endpoint, s, per_stream, args.batch, base_ts) for s in range(args.streams)])
    wall = time.perf_counter() - t0
    total = sum(r[0] for r in results)
    nbytes = sum(r[2] for r in results)
    put_wall = max(r[1] for r in results)
    eps = total / put_wall

    json_found, json_ms, json_pages = filter_all(logs, '{ $.level = "error" }')
    text_found, text_ms, text_pages = filter_all(logs, '"no such phrase"')
    expected_errors = sum(len(range(0, per_stream, 1000)) for _ in range(args.streams))
    assert json_found == expected_errors, (json_found, expected_errors)
    assert text_found == 0

    result = {
        "events": total,
        "batch": args.batch,
        "streams": args.streams,
        "put_seconds": round(put_wall, 3),
        "put_events_per_second": round(eps),
        "put_mb_per_second": round(nbytes / put_wall / 1e6, 2),
        "setup_wall_seconds": round(wall, 3),
        "filter_json_ms": round(json_ms, 1),
        "filter_json_matches": json_found,
        "filter_json_pages": json_pages,
        "filter_text_ms": round(text_ms, 1),
        "filter_text_pages": text_pages,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    print(f"PutLogEvents:    {total:,} events in {put_wall:.2f}s = {eps:,.0f} events/s "
          f"({result['put_mb_per_second']} MB/s, {args.streams} streams, batches of {args.batch:,})")
    print(f"FilterLogEvents: {{ $.level = \"error\" }} over {total:,} events: {json_ms:,.0f} ms "
          f"({json_found:,} matches, {json_pages} page(s))")
    print(f"FilterLogEvents: text, no match, over {total:,} events: {text_ms:,.0f} ms ({text_pages} page(s))")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
