#!/usr/bin/env python3
"""CloudWatch metrics benchmark for a running Berth.

1. PutMetricData throughput: --metrics metrics (default 10,000) × --minutes
   one-minute datapoints each (default 1,440: one day), sent in requests of
   --batch datums (default 1,000, the AWS maximum) by --clients client
   processes (boto3, rpcv2Cbor; gzip off, see docs/compatibility.md).
   Reports datapoints/s.
   With --raw, each client serializes its requests first (botocore's own
   rpcv2Cbor serializer and SigV4 signer) and then only sends them: the
   figure is the server's, without boto3's per-call cost (about 30 ms to
   serialize 1,000 datums in CPython).
2. GetMetricData over every metric: requests of 500 MetricStat queries (the
   AWS maximum) covering the whole range at Period 60 (or --read-period),
   following NextToken; then one SUM(METRICS()) expression over each 499.
   Reports the wall time and datapoints read per second.

Usually run through bench/run-metrics (release build, temporary data dir).
Results: a table on stdout and bench/out/metrics.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import os
import platform
import time
from pathlib import Path

import boto3
import botocore.config

NAMESPACE = "Bench"


def client(endpoint: str):
    cfg = botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=600, connect_timeout=10,
                                 disable_request_compression=True)
    return boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client("cloudwatch", endpoint_url=endpoint, config=cfg)


def metric(i: int) -> dict:
    return {"MetricName": "Load", "Dimensions": [{"Name": "Host", "Value": f"h{i:05d}"}]}


def producer(args) -> tuple[int, float, float]:
    """Sends its share; returns (datapoints, when its sending began, when it ended) in wall-clock
    seconds, so that the put rate is over the sending alone, from the first client's start to the
    last one's end (not the process start-up nor, with --raw, the serialization before it)."""
    endpoint, first, last, minutes, batch, start, raw = args
    cw = client(endpoint)
    if raw:
        return raw_producer(cw, first, last, minutes, batch, start)

    def data():
        for i in range(first, last):
            for m in range(minutes):
                yield {**metric(i), "Timestamp": start + datetime.timedelta(minutes=m),
                       "Value": float((i + m) % 100), "Unit": "Percent"}

    # Batches are built as they are sent (a day of 10,000 metrics does not
    # fit in memory at once); building one is small next to sending it.
    sent = 0
    t0 = time.time()
    request = []
    for datum in data():
        request.append(datum)
        if len(request) == batch:
            cw.put_metric_data(Namespace=NAMESPACE, MetricData=request)
            sent += len(request)
            request = []
    if request:
        cw.put_metric_data(Namespace=NAMESPACE, MetricData=request)
        sent += len(request)
    return sent, t0, time.time()


def raw_producer(cw, first, last, minutes, batch, start) -> tuple[int, float, float]:
    """Pre-serialized, pre-signed requests, then only the sending is timed."""
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    import requests
    from botocore import serialize

    model = cw.meta.service_model
    op = model.operation_model("PutMetricData")
    ser = serialize.create_serializer("smithy-rpc-v2-cbor")
    signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials("test", "test"), "monitoring", "us-east-1")
    url = cw.meta.endpoint_url.rstrip("/") + "/service/GraniteServiceVersion20100801/operation/PutMetricData"
    data = [{**metric(i), "Timestamp": start + datetime.timedelta(minutes=m), "Value": float((i + m) % 100),
             "Unit": "Percent"} for i in range(first, last) for m in range(minutes)]
    prepared = []
    for k in range(0, len(data), batch):
        body = ser.serialize_to_request({"Namespace": NAMESPACE, "MetricData": data[k:k + batch]}, op)["body"]
        req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=body, headers={
            "smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor", "Accept": "application/cbor"})
        signer.add_auth(req)
        prepared.append((dict(req.prepare().headers), body))
    session = requests.Session()
    t0 = time.time()
    for headers, body in prepared:
        resp = session.post(url, headers=headers, data=body, timeout=600)
        if resp.status_code != 200:
            raise RuntimeError(f"PutMetricData answered {resp.status_code}: {resp.content[:200]!r}")
    return len(data), t0, time.time()


def read_all(cw, metrics: int, start, end, period: int, expression: bool) -> tuple[int, float, int]:
    points = 0
    calls = 0
    t0 = time.perf_counter()
    # 500 queries per request at most, the expression included.
    per = 499 if expression else 500
    for first in range(0, metrics, per):
        queries = [
            {"Id": f"m{i}", "MetricStat": {"Metric": {"Namespace": NAMESPACE, **metric(i)}, "Period": period,
                                           "Stat": "Average"}, "ReturnData": not expression}
            for i in range(first, min(first + per, metrics))
        ]
        if expression:
            queries.append({"Id": "total", "Expression": "SUM(METRICS())"})
        token = None
        while True:
            kwargs = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
            if token:
                kwargs["NextToken"] = token
            out = cw.get_metric_data(**kwargs)
            calls += 1
            points += sum(len(r["Values"]) for r in out["MetricDataResults"])
            token = out.get("NextToken")
            if not token:
                break
    return points, time.perf_counter() - t0, calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--metrics", type=int, default=10_000)
    ap.add_argument("--minutes", type=int, default=1440)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--read-period", type=int, default=60)
    ap.add_argument("--raw", action="store_true", help="time only the sending of pre-serialized requests")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "metrics.json"))
    args = ap.parse_args()

    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    start = now - datetime.timedelta(minutes=args.minutes + 1)
    end = start + datetime.timedelta(minutes=args.minutes)
    per = -(-args.metrics // args.clients)
    jobs = [(args.endpoint, c * per, min((c + 1) * per, args.metrics), args.minutes, args.batch, start, args.raw)
            for c in range(args.clients) if c * per < args.metrics]
    with mp.Pool(len(jobs)) as pool:
        results = pool.map(producer, jobs)
    # The sending window: the first client's first request to the last client's last answer.
    put_wall = max(r[2] for r in results) - min(r[1] for r in results)
    total = sum(r[0] for r in results)
    put_rate = total / put_wall

    cw = client(args.endpoint)
    read_points, read_s, read_calls = read_all(cw, args.metrics, start, end, args.read_period, False)
    expected = args.metrics * (args.minutes * 60 // args.read_period if args.read_period <= 60 else
                               -(-args.minutes * 60 // args.read_period))
    assert read_points == expected, (read_points, expected)
    sum_points, sum_s, sum_calls = read_all(cw, args.metrics, start, end, args.read_period, True)

    result = {
        "metrics": args.metrics,
        "minutes": args.minutes,
        "datapoints": total,
        "batch": args.batch,
        "clients": len(jobs),
        "raw": args.raw,
        "put_seconds": round(put_wall, 3),
        "put_datapoints_per_second": round(put_rate),
        "get_metric_data_seconds": round(read_s, 3),
        "get_metric_data_calls": read_calls,
        "get_metric_data_points": read_points,
        "get_metric_data_points_per_second": round(read_points / read_s),
        "sum_metrics_seconds": round(sum_s, 3),
        "sum_metrics_calls": sum_calls,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    print(f"PutMetricData: {total:,} datapoints ({args.metrics:,} metrics × {args.minutes} min) in {put_wall:.2f}s "
          f"= {put_rate:,.0f} datapoints/s ({len(jobs)} clients, {args.batch} per request{', pre-serialized' if args.raw else ''})")
    print(f"GetMetricData: {args.metrics:,} metrics × {args.minutes} min at {args.read_period}s: {read_s:.2f}s, "
          f"{read_calls} calls, {read_points:,} datapoints = {read_points / read_s:,.0f} datapoints/s")
    print(f"GetMetricData: SUM(METRICS()) per 499 metrics: {sum_s:.2f}s, {sum_calls} calls")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
