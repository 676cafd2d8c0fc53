#!/usr/bin/env python3
"""The registry's housekeeping at scale.

1. The pure functions (criterion, `cargo bench -p berth-registry --bench
   lifecycle`): one lifecycle policy evaluation over 100,000 images (four
   rules: count, pushed, untagged, pulled) and one garbage-collection mark
   over 100,000 blob files and links.
2. Garbage collection on a running server (`berth server`, release build,
   `--registry-gc-interval-secs 0 --registry-gc-grace-secs 0`): `--blobs` N
   blobs uploaded and never referenced (garbage) beside a few referenced
   images, then `berth registry gc` timed (its report's durationMs, blobs
   per second), while one client keeps pushing small blobs: the push
   latency during the collection against the same client's before it
   (p50/p99/max) says whether pushes pause.

Writes bench/out/lifecycle.json. Run alone with `bench/lifecycle.py`
(after `cargo build --release -p berth`), or through `bench/run --only
lifecycle`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import registry as regbench  # bench/registry.py: wait_http, ecr_password, REPOSITORY

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def criterion_estimates(target: Path, group: str, name: str) -> float:
    est = json.loads((target / "criterion" / group / name / "new" / "estimates.json").read_text())
    return est["median"]["point_estimate"] / 1e6  # ns -> ms


def pure(quick: bool) -> dict:
    args = ["cargo", "bench", "-p", "berth-registry", "--bench", "lifecycle", "--"]
    if quick:
        args += ["--warm-up-time", "0.5", "--measurement-time", "1"]
    subprocess.run(args, cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return {
        "lifecycle_evaluate_100k_images_ms": round(criterion_estimates(target, "lifecycle", "evaluate_100k_images"), 2),
        "gc_mark_100k_blobs_ms": round(criterion_estimates(target, "gc", "mark_100k_blobs"), 2),
    }


def start(binary: Path, work: Path):
    data = work / "data"
    data.mkdir()
    out_path = work / "berth.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BERTH_ROOT_"))}
    env.setdefault("BERTH_LOG", "warn")
    key, secret = "BENCHROOTKEY", os.urandom(20).hex()
    env.update(BERTH_ROOT_ACCESS_KEY_ID=key, BERTH_ROOT_SECRET_ACCESS_KEY=secret)
    with open(out_path, "wb") as out, open(work / "berth.log", "wb") as log:
        proc = subprocess.Popen(
            [str(binary), "server", "--listen", "127.0.0.1:0", "--data-dir", str(data),
             "--registry-gc-interval-secs", "0", "--registry-gc-grace-secs", "0"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=log, env=env,
        )
    deadline = time.monotonic() + regbench.START_TIMEOUT
    endpoint = None
    while endpoint is None and time.monotonic() < deadline and proc.poll() is None:
        for line in out_path.read_text(errors="replace").splitlines():
            if line.strip().startswith("endpoint:"):
                endpoint = line.strip().split(None, 1)[1]
        try:
            proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            pass
    if not endpoint:
        proc.kill()
        raise RuntimeError(f"berth did not print its endpoint; see {work / 'berth.log'}")
    regbench.wait_http(f"{endpoint}/healthz", proc, ok=(200,))
    password = regbench.ecr_password(endpoint, key, secret)
    return proc, endpoint, password, {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}


class Pusher:
    def __init__(self, endpoint: str, password: str):
        import requests

        self.s = requests.Session()
        self.s.auth = ("AWS", password)
        self.base = f"{endpoint}/v2/{regbench.REPOSITORY}"

    def blob(self, data: bytes) -> float:
        """Pushes one blob; returns the seconds it took."""
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        t0 = time.perf_counter()
        r = self.s.post(f"{self.base}/blobs/uploads/?digest={d}", data=data, timeout=120)
        dt = time.perf_counter() - t0
        if r.status_code != 201:
            raise RuntimeError(f"push: {r.status_code} {r.text}")
        return dt


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(len(xs) * p))] * 1000, 2)


def server_gc(binary: Path, blobs: int, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="berth-gc-bench-") as tmp:
        proc, endpoint, password, creds = start(binary, Path(tmp))
        try:
            def fill(k: int):
                p = Pusher(endpoint, password)
                for i in range(k, blobs, workers):
                    p.blob(f"garbage {i} ".encode() + os.urandom(256))

            t0 = time.perf_counter()
            threads = [threading.Thread(target=fill, args=(k,)) for k in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            fill_s = time.perf_counter() - t0

            probe = Pusher(endpoint, password)
            before = [probe.blob(os.urandom(512)) for _ in range(200)]
            during: list[float] = []
            done = threading.Event()

            def keep_pushing():
                while not done.is_set():
                    during.append(probe.blob(os.urandom(512)))

            t = threading.Thread(target=keep_pushing)
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            env.update(creds, AWS_DEFAULT_REGION="us-east-1")
            t.start()
            load_before = os.getloadavg()
            t0 = time.perf_counter()
            gc = subprocess.run([str(binary), "registry", "gc", "--endpoint", endpoint, "--output", "json"],
                                env=env, capture_output=True, text=True, timeout=1800)
            wall = time.perf_counter() - t0
            done.set()
            t.join()
            if gc.returncode != 0:
                raise RuntimeError(gc.stderr)
            report = json.loads(gc.stdout)
            return {
                "garbage_blobs": report["garbageBlobs"],
                "blobs_deleted": report["blobsDeleted"],
                "gc_ms": report["durationMs"],
                "gc_wall_s": round(wall, 2),
                "blobs_per_s": round(report["blobsDeleted"] / max(report["durationMs"], 1) * 1000, 1),
                "fill_blobs_per_s": round(blobs / fill_s, 1),
                "push_ms_before": {"p50": pct(before, 0.5), "p99": pct(before, 0.99), "max": pct(before, 1.0)},
                "push_ms_during": {"p50": pct(during, 0.5), "p99": pct(during, 0.99), "max": pct(during, 1.0),
                                   "pushes": len(during)},
                "pushes_per_s_before": round(len(before) / max(sum(before), 1e-9), 1),
                "pushes_per_s_during": round(len(during) / max(wall, 1e-9), 1),
                # The machine's load (1, 5, 15 min) when the collection started and ended.
                "load_average": {"gc_start": [round(x, 2) for x in load_before],
                                 "gc_end": [round(x, 2) for x in os.getloadavg()]},
            }
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", type=Path, default=ROOT / "target" / "release" / "berth")
    ap.add_argument("--blobs", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-pure", action="store_true", help="only the server part")
    ap.add_argument("--skip-server", action="store_true", help="only the pure functions")
    a = ap.parse_args()
    out = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "binary": str(a.binary)}
    if not a.skip_pure:
        out["pure"] = pure(a.quick)
    if not a.skip_server:
        out["server"] = {"blobs": a.blobs, **server_gc(a.binary, a.blobs, a.workers)}
    OUT.mkdir(exist_ok=True)
    (OUT / "lifecycle.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
