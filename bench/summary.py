#!/usr/bin/env python3
"""Reads bench/out/*.json (and criterion's estimates) and prints one table
of every figure, then writes bench/out/summary.json. Run by bench/run."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
CRITERION = HERE.parent / "target" / "criterion"


def load(name: str):
    try:
        return json.loads((OUT / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


def rows() -> list:
    out = []

    def add(area, figure, value, unit="", peer=None, ratio=None, when=None):
        out.append({"area": area, "figure": figure, "value": value, "unit": unit, "peer": peer, "ratio": ratio,
                    "measured": when})

    api = load("api")
    if api:
        for r in api["results"]:
            add("api", f"{r['operation']} ({r['concurrency']} clients)", r["requests_per_s"], "req/s",
                when=api.get("date"))
            add("api", f"{r['operation']} p50/p99", f"{r['p50_ms']}/{r['p99_ms']}", "ms", when=api.get("date"))
    cmp_ = load("api_compare")
    if cmp_:
        by = {(r["server"], r["operation"]): r for r in cmp_["results"]}
        for op, ratio in cmp_.get("ratio_berth_over_moto_requests_per_s", {}).items():
            b, m = by[("berth", op)], by[("moto", op)]
            add("api vs moto", f"{op} ({b['concurrency']} clients) req/s", b["requests_per_s"], "req/s",
                f"moto {m['requests_per_s']} req/s", ratio, cmp_.get("date"))
            add("api vs moto", f"{op} p50/p99", f"{b['p50_ms']}/{b['p99_ms']}", "ms",
                f"moto {m['p50_ms']}/{m['p99_ms']} ms", None, cmp_.get("date"))
    ts = load("task_start")
    if ts:
        b, d = ts["berth_run_task_to_running"], ts["docker_run_to_running"]
        add("task start", "RunTask -> RUNNING p50", b["p50_ms"], "ms", f"docker run {d['p50_ms']} ms",
            ts.get("ratio_p50"), ts.get("date"))
        add("task start", "RunTask -> RUNNING p99", b["p99_ms"], "ms", f"docker run {d['p99_ms']} ms",
            ts.get("ratio_p99"), ts.get("date"))
        for mode in ("awsvpc", "fargate"):
            m = ts.get("modes", {}).get(mode)
            if m:
                add("task start", f"{mode} RunTask -> RUNNING p50", m["run_task_to_running"]["p50_ms"], "ms",
                    f"docker run {d['p50_ms']} ms", m["ratio_p50"], ts.get("date"))
    reg = load("registry")
    if reg:
        res, ratio = reg["results"], reg.get("ratio_berth_over_distribution", {})
        for op in ("push", "pull"):
            add("registry", f"skopeo {op} {reg['image']['bytes'] / 2**30:.2f} GiB", res["berth"][op]["mb_per_s"],
                "MB/s", f"distribution {res['distribution'][op]['mb_per_s']} MB/s", ratio.get(op), reg.get("when"))
        add("registry", "sha256, one core (ceiling)", reg.get("sha256_single_core_mb_per_s"), "MB/s",
            when=reg.get("when"))
    lc = load("lifecycle")
    if lc:
        pure, srv = lc.get("pure"), lc.get("server")
        if pure:
            add("registry housekeeping", "lifecycle evaluation, 100,000 images", pure["lifecycle_evaluate_100k_images_ms"],
                "ms", when=lc.get("when"))
            add("registry housekeeping", "gc mark, 100,000 blobs", pure["gc_mark_100k_blobs_ms"], "ms",
                when=lc.get("when"))
        if srv:
            add("registry housekeeping", f"berth registry gc, {srv['garbage_blobs']} garbage blobs", srv["gc_ms"], "ms",
                when=lc.get("when"))
            b, d = srv["push_ms_before"], srv["push_ms_during"]
            add("registry housekeeping", "blob push p99 during gc", d["p99"], "ms", f"before gc {b['p99']} ms",
                when=lc.get("when"))
    sc = load("scan")
    if sc:
        add("registry housekeeping", f"image scan, {sc['images']} images of {sc['gzip_mb_read'] / sc['images']:.0f} MB",
            sc["scan_gzip_mb_per_s"], "MB/s", f"tar -xzf {sc['tar_xzf_gzip_mb_per_s']} MB/s",
            sc["scan_over_tar_xzf"], sc.get("when"))
        add("registry housekeeping", "image scans per minute", sc["images_per_min"], "images/min", when=sc.get("when"))
    pl = load("placement")
    if pl:
        for size in pl["results"]:
            n = size["instances"]
            if "error" in size:
                add("placement", f"{n} hollow instances", "failed", "", size["error"], when=pl.get("date"))
                continue
            add("placement", f"{n} hollow instances: connect", size.get("connect_s"), "s", when=pl.get("date"))
            for r in size["runs"]:
                add("placement", f"{n} instances, {r['strategy']}: RunTask", r["tasks_per_s"], "tasks/s",
                    when=pl.get("date"))
                add("placement", f"{n} instances, {r['strategy']}: latency p50/p99", f"{r['p50_ms']}/{r['p99_ms']}",
                    "ms", when=pl.get("date"))
            oc = size["overcommit_check"]
            add("placement", f"{n} instances: over-committed instances", oc["over_committed"] + oc["negative_remaining"],
                f"of {oc['instances_checked']} ({oc['tasks_checked']} tasks)", when=pl.get("date"))
            add("memory", f"berth server peak RSS, {n} hollow instances", size.get("server_peak_rss_mib"), "MiB",
                when=pl.get("date"))
            add("memory", f"hollow agent process peak RSS, {n} instances", size.get("agent_peak_rss_mib"), "MiB",
                when=pl.get("date"))
    svc = load("services")
    if svc:
        add("services", f"reconcile {svc.get('services')} services (wall, cargo bench -p berth-ecs --bench services)",
            round(svc.get("reconcile_wall_seconds_per_1000_services", 0), 3), "s")
    conv = load("services_converge")
    if conv:
        r, when = conv["result"], conv.get("date")
        size = f"{r.get('services')} services x {r.get('desired')} on {r.get('instances')} instances"
        if "error" in r and "cold" not in r:
            add("services", size, "failed", "", r["error"], when=when)
        for phase, key, what in (("cold", "converge_s", "cold start -> all at desired"),
                                 ("loss", "recovered_s", f"lose 1/{r.get('procs')} of instances -> all at desired")):
            p = r.get(phase)
            if p is None:
                continue
            if p.get("ok"):
                add("services", f"{size}: {what}", p[key], "s", when=when)
            else:
                add("services", f"{size}: {what}", "failed", "",
                    f"{p.get('error')}; {p.get('services_converged')}/{r.get('services')} services at desired, "
                    f"services' runningCount sum {p.get('tasks_running')}, cluster RUNNING tasks "
                    f"{p.get('cluster_running')}", when=when)
        loss = r.get("loss", {})
        if "disconnected_s" in loss:
            add("services", f"{size}: lost instances marked disconnected", loss["disconnected_s"], "s", when=when)
        if "lost_tasks_stopped_s" in loss:
            add("services", f"{size}: lost tasks STOPPED (grace {conv['settings'].get('grace_period_s')} s)",
                loss["lost_tasks_stopped_s"], "s", when=when)
        add("memory", f"berth server peak RSS, {size}", r.get("server_peak_rss_mib"), "MiB", when=when)
        add("services", f"{size}: server CPU", r.get("server_cpu_s"), "s", when=when)
    mem = load("memory")
    if mem:
        when = mem.get("date")
        s = mem.get("server")
        if s:
            size = f"{s['instances']} hollow instances, {s['tasks']} tasks"
            if s.get("error"):
                add("memory", f"berth server, {size}", "failed", "",
                    f"{s['error']}; peak {s.get('server_peak_rss_mib')} MiB", when=when)
            for key, what in (("rss_idle_mib", "RSS idle after connect"),
                              ("rss_with_tasks_mib", f"RSS with {s.get('tasks_running')} tasks RUNNING"),
                              ("server_peak_rss_mib", "peak RSS (VmHWM)")):
                if s.get(key) is not None:
                    add("memory", f"berth server, {s['instances']} instances: {what}", s[key], "MiB", when=when)
        a = mem.get("agent")
        if a:
            if a.get("error"):
                add("memory", f"berth agent, {a['tasks']} docker tasks", "failed", "", a["error"], when=when)
            for key, what in (("agent_rss_idle_mib", "RSS idle"),
                              ("agent_rss_with_tasks_mib", f"RSS with {a.get('tasks_running')} tasks RUNNING"),
                              ("agent_peak_rss_mib", "peak RSS (VmHWM)")):
                if a.get(key) is not None:
                    add("memory", f"berth agent (docker): {what}", a[key], "MiB", when=when)
    lg = load("logs")
    if lg:
        add("logs", f"PutLogEvents, {lg['events']:,} events in batches of {lg['batch']:,}",
            lg["put_events_per_second"], "events/s", when=lg.get("date"))
        add("logs", f"FilterLogEvents JSON pattern over {lg['events']:,} stored events", lg["filter_json_ms"], "ms",
            when=lg.get("date"))
        add("logs", f"FilterLogEvents text term over {lg['events']:,} stored events", lg["filter_text_ms"], "ms",
            when=lg.get("date"))
    lbb = load("lb")
    if lbb:
        hap = lbb["summary"].get("haproxy")
        for name, sm in lbb["summary"].items():
            if name == "haproxy":
                continue
            peer = f"haproxy {hap['rps']:.0f} req/s, p99 {hap['p99_ms']:.2f} ms" if hap else None
            add("lb", f"{name}: HTTP through the proxy, {lbb['args']['connections']} wrk connections", round(sm["rps"]),
                "req/s", peer, sm.get("rps_vs_haproxy"), lbb.get("date"))
            add("lb", f"{name}: p50/p99", f"{sm['p50_ms']:.2f}/{sm['p99_ms']:.2f}", "ms", when=lbb.get("date"))
    mc = load("metrics_compare")
    if mc:
        ratios = mc.get("ratios_berth_over_moto", {})
        for proto, r in mc.get("load", {}).get("berth", {}).items():
            moto = mc["load"].get("moto", {}).get(proto, {})
            add("metrics", f"PutMetricData capacity, {proto} (wrk, {r['connections']} connections, "
                f"sums verified: {r['verified']})", r["datapoints_per_second"], "datapoints/s",
                f"moto_server {moto.get('datapoints_per_second', 0):,}/s",
                ratios.get(f"load_{proto}_datapoints_per_second"), mc.get("date"))
        res = mc.get("results", {}).get("berth")
        if res:
            add("metrics", f"GetMetricData, {res['metrics']:,} metrics × {res['minutes']} min",
                res["get_metric_data_points_per_second"], "datapoints/s",
                f"moto_server {mc['results']['moto']['get_metric_data_points_per_second']:,}/s",
                ratios.get("get_metric_data_points_per_second"), mc.get("date"))
    crit = CRITERION / "place_10_tasks"
    if crit.is_dir():
        for est in sorted(crit.glob("*/*/new/estimates.json")):
            try:
                ns = json.loads(est.read_text())["median"]["point_estimate"]
            except (OSError, ValueError, KeyError):
                continue
            name = f"{est.parts[-4]}/{est.parts[-3]}"
            add("scheduler", f"criterion place_10_tasks {name}", round(10 / (ns / 1e9)), "placements/s")
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", default="0")
    ap.add_argument("--failed", default="")
    ap.add_argument("--durations", default="", help="name=seconds,... as bench/run measured them")
    args = ap.parse_args()
    table = rows()
    widths = [max([len(h)] + [len(str(r[k] if r[k] is not None else "-")) for r in table])
              for h, k in (("area", "area"), ("figure", "figure"), ("value", "value"), ("unit", "unit"),
                           ("peer", "peer"), ("ratio", "ratio"))]
    cols = ["area", "figure", "value", "unit", "peer", "ratio"]
    print()
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    print("  ".join("-" * w for w in widths))
    for r in table:
        print("  ".join(str(r[c] if r[c] is not None else "-").ljust(w) for c, w in zip(cols, widths)))
    summary = {
        "benchmark": "summary",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick == "1",
        "failed": [f for f in args.failed.split(",") if f],
        "durations_s": {k: int(v) for k, _, v in (d.partition("=") for d in args.durations.split(",") if d)
                        if v.isdigit()},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "figures": table,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwritten: {OUT / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
