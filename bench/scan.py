#!/usr/bin/env python3
"""Image scan throughput (issue 18's bench): how fast the registry's BASIC
scanner reads images.

A `berth server` (release build) gets `--images` images, each `--layers`
gzip layers of `--layer-mb` MB of tar (text-like data: base64, so gzip has
real work, about 4:3) shared by every image, plus one small layer of its
own holding a Debian `etc/os-release` and `var/lib/dpkg/status` (so every
image differs and every scan completes with a finding from the small OSV
database imported with `berth scan-db import`). StartImageScan is called
for every image at once (boto3); the scans run one after another in the
server's worker; the clock stops when the last is COMPLETE. Reported: MB/s
of layers read (as stored, gzip) and of tar, images/min.

No peer scanner is installed on the development machine (trivy and grype
are not in its package lists), so the baseline is the raw cost of reading
the same layers: `tar -xzf LAYER -O > /dev/null` for every layer of every
image, in the same run.

Writes bench/out/scan.json. Run alone with `bench/scan.py` (after `cargo
build --release -p berth`), or through `bench/run --only scan`.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import lifecycle  # bench/lifecycle.py: start (a server), ROOT, OUT
import registry as regbench  # bench/registry.py: REPOSITORY, OCI media types

OSV = [{
    "id": "CVE-2024-0727", "summary": "PKCS12 NULL dereference", "database_specific": {"severity": "HIGH"},
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}]}],
}]

STATUS = """Package: libssl3
Status: install ok installed
Source: openssl
Version: 3.0.11-1~deb12u1

Package: image-{n}
Status: install ok installed
Version: 1.0-{n}
"""


def text_layer(path: Path, tar_bytes: int, seed: int) -> tuple[str, int]:
    """A gzip (level 6) of a tar of 1 MiB text files, about `tar_bytes` long."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for i in range(max(1, tar_bytes >> 20)):
            data = base64.b64encode(os.urandom(3 << 18))  # 1 MiB of text
            info = tarfile.TarInfo(f"usr/share/bench/{seed}/{i}.txt")
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    raw = gzip.compress(buf.getvalue(), compresslevel=6, mtime=0)
    path.write_bytes(raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest(), len(raw)


def small_layer(n: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in [("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
                           ("var/lib/dpkg/status", STATUS.format(n=n).encode())]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


def push_blob(session, base: str, data: bytes) -> dict:
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    if session.head(f"{base}/blobs/{d}", timeout=60).status_code != 200:
        r = session.post(f"{base}/blobs/uploads/?digest={d}", data=data, timeout=600)
        if r.status_code != 201:
            raise RuntimeError(f"blob push: {r.status_code} {r.text}")
    return {"digest": d, "size": len(data)}


def tar_baseline(paths: list[Path]) -> float:
    t0 = time.perf_counter()
    for p in paths:
        with open(os.devnull, "wb") as null:
            subprocess.run(["tar", "-xzf", str(p), "-O"], stdout=null, check=True)
    return time.perf_counter() - t0


def run(binary: Path, images: int, layers: int, layer_mb: int) -> dict:
    import boto3
    import requests

    with tempfile.TemporaryDirectory(prefix="berth-scan-bench-") as tmp:
        work = Path(tmp)
        shared = []
        for k in range(layers):
            path = work / f"layer-{k}.tar.gz"
            digest, size = text_layer(path, layer_mb << 20, k)
            shared.append((path, digest, size))
        proc, endpoint, password, creds = lifecycle.start(binary, work)
        try:
            db = work / "osv.json"
            db.write_text(json.dumps(OSV))
            subprocess.run([str(binary), "scan-db", "import", str(db), "--data-dir", str(work / "data")],
                           check=True, capture_output=True)
            s = requests.Session()
            s.auth = ("AWS", password)
            base = f"{endpoint}/v2/{regbench.REPOSITORY}"
            for path, _, _ in shared:
                push_blob(s, base, path.read_bytes())
            for n in range(images):
                descs = [{"mediaType": regbench.OCI_LAYER_GZIP, "digest": d, "size": size} for _, d, size in shared]
                descs.append({"mediaType": regbench.OCI_LAYER_GZIP, **push_blob(s, base, small_layer(n))})
                config = push_blob(s, base, json.dumps({"architecture": "amd64", "os": "linux", "n": n}).encode())
                manifest = json.dumps({"schemaVersion": 2, "mediaType": regbench.OCI_MANIFEST,
                                       "config": {"mediaType": regbench.OCI_CONFIG, **config}, "layers": descs})
                r = s.put(f"{base}/manifests/img-{n}", data=manifest,
                          headers={"Content-Type": regbench.OCI_MANIFEST}, timeout=60)
                if r.status_code != 201:
                    raise RuntimeError(f"manifest push: {r.status_code} {r.text}")
            ecr = boto3.client("ecr", endpoint_url=endpoint, region_name="us-east-1",
                               aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                               aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"])
            t0 = time.perf_counter()
            for n in range(images):
                ecr.start_image_scan(repositoryName=regbench.REPOSITORY, imageId={"imageTag": f"img-{n}"})
            pending = set(range(images))
            deadline = time.monotonic() + 1800
            while pending:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{len(pending)} scans did not complete in 30 min")
                for n in sorted(pending):
                    st = ecr.describe_image_scan_findings(
                        repositoryName=regbench.REPOSITORY, imageId={"imageTag": f"img-{n}"})["imageScanStatus"]
                    if st["status"] == "IN_PROGRESS":
                        break  # the worker runs them in order
                    if st["status"] != "COMPLETE":
                        raise RuntimeError(f"scan of img-{n}: {st}")
                    pending.discard(n)
                if pending:
                    time.sleep(0.05)  # the poll's pace; the loop waits for every scan to complete
            wall = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        gz_bytes = images * sum(size for _, _, size in shared)
        tar_bytes = images * layers * (layer_mb << 20)
        baseline = tar_baseline([p for _ in range(images) for p, _, _ in shared])
        mb = 1e6
        return {
            "images": images,
            "layers_per_image": layers + 1,
            "layer_tar_mb": layer_mb,
            "gzip_mb_read": round(gz_bytes / mb, 1),
            "scan_s": round(wall, 2),
            "scan_gzip_mb_per_s": round(gz_bytes / mb / wall, 1),
            "scan_tar_mb_per_s": round(tar_bytes / mb / wall, 1),
            "images_per_min": round(images / wall * 60, 1),
            "tar_xzf_s": round(baseline, 2),
            "tar_xzf_gzip_mb_per_s": round(gz_bytes / mb / baseline, 1),
            # The scanner's throughput over tar's (above 1: the scan reads faster than tar -xzf).
            "scan_over_tar_xzf": round(baseline / wall, 2),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", type=Path, default=lifecycle.ROOT / "target" / "release" / "berth")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--layer-mb", type=int, default=32)
    a = ap.parse_args()
    out = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "binary": str(a.binary),
           **run(a.binary, a.images, a.layers, a.layer_mb)}
    lifecycle.OUT.mkdir(exist_ok=True)
    (lifecycle.OUT / "scan.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
