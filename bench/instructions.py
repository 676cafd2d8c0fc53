#!/usr/bin/env python3
"""Instructions per API request, counted by valgrind's callgrind.

CPU time per request (bench/api.py) moves with whatever else the machine
runs; the number of instructions the server executes for one request does
not (two runs of one binary agree within 1 %). This script compares
builds of Berth with it: for each binary given, it starts `berth up` under
`valgrind --tool=callgrind` (its local agent off: no Docker socket), creates
what bench/api.py's operations read, sends each operation `--requests`
times from one client after a warm-up, and counts the instructions of the
whole server process between the first and the last of them.

    bench/instructions.py --bin before=/tmp/berth-old --bin after=target/release/berth

Results: a table of instructions per request and the ratio after/before
(the first binary is the reference), and bench/out/instructions.json.
Needs valgrind (Debian package `valgrind`); use release builds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api  # noqa: E402

WORKLOADS = [
    ("DescribeTaskDefinition", {"taskDefinition": api.FAMILY}),
    ("ListClusters", {}),
]
WARM_UP = 20


def start(binary: str, work: Path) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BERTH_ROOT_ACCESS_KEY_ID", "BERTH_ROOT_SECRET_ACCESS_KEY")}
    env.update(BERTH_LOG="warn", DOCKER_HOST=f"unix://{work}/no-docker.sock")
    out = open(work / "stdout.log", "w")
    proc = subprocess.Popen(
        [
            "valgrind", "--tool=callgrind", "--collect-atstart=yes",
            f"--callgrind-out-file={work}/callgrind.out",
            binary, "up", "--listen", "127.0.0.1:0", "--data-dir", str(work / "data"),
        ],
        stdout=out, stderr=open(work / "stderr.log", "w"), stdin=subprocess.DEVNULL, env=env,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        m = re.search(r"^\s*endpoint:\s*(\S+)", (work / "stdout.log").read_text(), re.M)
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{binary} did not start: {(work / 'stderr.log').read_text()[-2000:]}")


def callgrind(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


def totals(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {path}")


def measure(label: str, binary: str, requests: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="berth-instr-") as tmp:
        work = Path(tmp)
        proc, endpoint = start(binary, work)
        try:
            host = endpoint.split("//", 1)[1]
            api.setup(types.SimpleNamespace(
                endpoint=endpoint, access_key="test", secret_key="test", region="us-east-1"))
            signer = api.LeanSigner("test", "test", "us-east-1", "ecs")
            hostname, port = host.rsplit(":", 1)
            conn = http.client.HTTPConnection(hostname, int(port), timeout=600)

            def one(op: str, body: bytes) -> None:
                conn.request("POST", "/", body=body, headers=signer.headers(host, f"{api.ECS_TARGET}.{op}", body))
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    raise SystemExit(f"{op}: HTTP {resp.status}: {data[:300]!r}")

            row = {"label": label, "binary": binary}
            for n, (op, body) in enumerate(WORKLOADS, start=1):
                raw = json.dumps(body).encode()
                for _ in range(WARM_UP):
                    one(op, raw)
                callgrind("-z", str(proc.pid))
                for _ in range(requests):
                    one(op, raw)
                callgrind("-d", op, str(proc.pid))
                row[op] = totals(Path(f"{work}/callgrind.out.{n}")) // requests
        finally:
            proc.terminate()
            proc.wait(timeout=120)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", required=True, metavar="LABEL=PATH",
                    help="a berth binary to measure (repeat; the first is the reference)")
    ap.add_argument("--requests", type=int, default=400, help="measured requests per operation (default 400)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "instructions.json"))
    args = ap.parse_args()
    bins = []
    for spec in args.bin:
        label, sep, path = spec.partition("=")
        if not sep or not Path(path).is_file():
            ap.error(f"--bin {spec}: expected LABEL=PATH to a berth binary")
        bins.append((label, path))
    rows = [measure(label, path, args.requests) for label, path in bins]
    ref = rows[0]
    print(f"{'build':<12}" + "".join(f"{op:>26}" for op, _ in WORKLOADS))
    for r in rows:
        cells = "".join(f"{r[op]:>16,} ({r[op] / ref[op]:.3f}×)" for op, _ in WORKLOADS)
        print(f"{r['label']:<12}{cells}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "instructions",
        "commit": api.git_commit(),
        "requests_per_operation": args.requests,
        "unit": "instructions per request (whole server process)",
        "results": rows,
    }, indent=2) + "\n")
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
