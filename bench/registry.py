#!/usr/bin/env python3
"""Registry push/pull throughput: Berth against CNCF distribution.

Generates an image of N random (incompressible) layers into an OCI layout in
a temporary directory, then, in the same run, pushes it with skopeo to Berth
(`berth up`, release build) and to Debian's `docker-registry` package (CNCF
distribution, `docker-registry serve` with a temporary config on another
loopback port and filesystem storage in the temporary directory), and pulls
it back from each into a fresh OCI layout. Prints MB/s (10^6 bytes per
second of layer + config + manifest bytes) for each, the Berth/distribution
ratio, the servers' CPU seconds, and single-core SHA-256 throughput (Python
hashlib, i.e. OpenSSL) as the ceiling for a registry that verifies every
digest. Each of `--rounds` rounds uses a freshly generated image (so no
blob can be skipped or mounted); the best round of each is reported, all
samples are kept. Writes the same to bench/out/registry.json.

Layers are gzip streams made of stored (level 0) deflate blocks around a tar
of random bytes, with the `+gzip` media type: skopeo sends them as they are
(it would otherwise gzip uncompressed layers on push, and measure gzip).

Usually run through bench/run-registry, which builds the release binary and
installs docker-registry when missing.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
CHUNK = 4 * MiB
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
START_TIMEOUT = 30.0
TAG = "bench"
REPOSITORY = "bench/image"


# ---------------------------------------------------------------- the image


def write_layer(path: Path, size: int) -> tuple[str, str, int]:
    """A gzip (stored blocks) of a tar holding one file of `size` random bytes.

    Returns (digest of the gzip, diff_id = digest of the tar, gzip size)."""
    blob_hash, tar_hash = hashlib.sha256(), hashlib.sha256()
    gz = zlib.compressobj(level=0, wbits=31)
    written = 0
    with open(path, "wb") as out:

        def feed(data: bytes) -> None:
            nonlocal written
            tar_hash.update(data)
            packed = gz.compress(data)
            blob_hash.update(packed)
            out.write(packed)
            written += len(packed)

        info = tarfile.TarInfo("data.bin")
        info.size = size
        info.mtime = 0
        feed(info.tobuf(format=tarfile.PAX_FORMAT))
        left = size
        while left:
            n = min(CHUNK, left)
            feed(os.urandom(n))
            left -= n
        feed(b"\0" * ((-size) % 512) + b"\0" * 1024)
        tail = gz.flush()
        blob_hash.update(tail)
        out.write(tail)
        written += len(tail)
    return "sha256:" + blob_hash.hexdigest(), "sha256:" + tar_hash.hexdigest(), written


def make_layout(root: Path, layers: int, layer_bytes: int) -> dict:
    """An OCI layout with one image of `layers` random layers; returns its summary."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    descs, diff_ids = [], []
    for _ in range(layers):
        tmp = blobs / "incoming"
        digest, diff_id, size = write_layer(tmp, layer_bytes)
        tmp.rename(blobs / digest.split(":", 1)[1])
        descs.append({"mediaType": OCI_LAYER_GZIP, "digest": digest, "size": size})
        diff_ids.append(diff_id)

    def put(data: bytes) -> dict:
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        (blobs / d.split(":", 1)[1]).write_bytes(data)
        return {"digest": d, "size": len(data)}

    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, **put(config)},
            "layers": descs,
        }
    ).encode()
    mdesc = {"mediaType": OCI_MANIFEST, **put(manifest), "annotations": {"org.opencontainers.image.ref.name": TAG}}
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [mdesc]}))
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    total = sum(d["size"] for d in descs) + len(config) + len(manifest)
    return {"manifest_digest": mdesc["digest"], "layers": len(descs), "bytes": total}


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_http(url: str, proc: subprocess.Popen, ok=(200, 401)) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status in ok:
                    return
        except urllib.error.HTTPError as e:
            if e.code in ok:
                return
            last = e
        except OSError as e:
            last = e
        try:
            proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            pass
    raise RuntimeError(f"{url} did not answer within {START_TIMEOUT}s: {last}")


class Server:
    def __init__(self, name: str, proc: subprocess.Popen, host: str, creds: str | None):
        self.name, self.proc, self.host, self.creds = name, proc, host, creds

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_berth(binary: Path, work: Path) -> Server:
    data = work / "berth-data"
    data.mkdir()
    out_path = work / "berth.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BERTH_ROOT_"))}
    env.setdefault("BERTH_LOG", "warn")
    key, secret = "BENCHROOTKEY", os.urandom(20).hex()
    env.update(BERTH_ROOT_ACCESS_KEY_ID=key, BERTH_ROOT_SECRET_ACCESS_KEY=secret)
    with open(out_path, "wb") as out, open(work / "berth.log", "wb") as log:
        proc = subprocess.Popen(
            [str(binary), "server", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=log,
            env=env,
        )
    endpoint = None
    deadline = time.monotonic() + START_TIMEOUT
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
    wait_http(f"{endpoint}/healthz", proc, ok=(200,))
    password = ecr_password(endpoint, key, secret)
    host = endpoint.split("://", 1)[1]
    return Server("berth", proc, host, f"AWS:{password}")


def ecr_password(endpoint: str, key: str, secret: str) -> str:
    import boto3  # the venv's

    ecr = boto3.client(
        "ecr", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret
    )
    # ECR repositories are created before the first push.
    ecr.create_repository(repositoryName=REPOSITORY)
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode().split(":", 1)[1]


def start_distribution(binary: Path, work: Path) -> Server:
    port = free_port()
    storage = work / "distribution-data"
    storage.mkdir()
    cfg = work / "distribution.yml"
    cfg.write_text(
        f"""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""
    )
    log = open(work / "distribution.log", "wb")
    proc = subprocess.Popen([str(binary), "serve", str(cfg)], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    wait_http(f"http://127.0.0.1:{port}/v2/", proc, ok=(200,))
    return Server("distribution", proc, f"127.0.0.1:{port}", None)


# ---------------------------------------------------------------- measuring


def skopeo_copy(src: str, dst: str, creds: str | None, direction: str) -> float:
    cmd = ["skopeo", "--insecure-policy", "copy", "--preserve-digests", "--retry-times", "0"]
    if direction == "push":
        cmd += ["--dest-tls-verify=false"] + (["--dest-creds", creds] if creds else [])
    else:
        cmd += ["--src-tls-verify=false"] + (["--src-creds", creds] if creds else [])
    started = time.perf_counter()
    p = subprocess.run(cmd + [src, dst], capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - started
    if p.returncode != 0:
        raise RuntimeError(f"skopeo copy {src} {dst} failed:\n{p.stderr}")
    return elapsed


def sha256_ceiling(seconds: float = 2.0) -> float:
    """Single-core SHA-256 throughput in MB/s over 4 MiB buffers."""
    buf = os.urandom(CHUNK)
    h = hashlib.sha256()
    n = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        h.update(buf)
        n += len(buf)
    return n / (time.perf_counter() - started) / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth-bin", default=str(ROOT / "target" / "release" / "berth"))
    ap.add_argument("--distribution-bin", default="/usr/bin/docker-registry")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--layer-mib", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=2, help="fresh image each round; the best round is reported")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "registry.json"))
    args = ap.parse_args()
    for tool in ("skopeo",):
        if not shutil.which(tool):
            print(f"{tool} is not installed", file=sys.stderr)
            return 2
    for b in (args.berth_bin, args.distribution_bin):
        if not Path(b).is_file():
            print(f"{b} does not exist (bench/run-registry builds and installs both)", file=sys.stderr)
            return 2

    work = Path(tempfile.mkdtemp(prefix="berth-bench-registry."))
    servers: list[Server] = []
    try:
        servers = [start_berth(Path(args.berth_bin), work), start_distribution(Path(args.distribution_bin), work)]
        samples: dict = {}
        for rnd in range(args.rounds):
            # New random layers every round: nothing can be skipped or mounted from an earlier push.
            print(f"round {rnd + 1}/{args.rounds}: generating {args.layers} x {args.layer_mib} MiB ...", flush=True)
            t = time.perf_counter()
            src = work / "src"
            image = make_layout(src, args.layers, args.layer_mib * MiB)
            print(f"  {image['bytes'] / 1e6:.0f} MB in {time.perf_counter() - t:.1f}s", flush=True)
            # Pushes first (both), then pulls (both), so each server sees the same page-cache state.
            for direction in ("push", "pull"):
                for s in servers:
                    remote = f"docker://{s.host}/{REPOSITORY}:{TAG}"
                    before = cpu_seconds(s.proc.pid)
                    if direction == "push":
                        elapsed = skopeo_copy(f"oci:{src}:{TAG}", remote, s.creds, "push")
                    else:
                        dest = work / f"pulled-{s.name}"
                        elapsed = skopeo_copy(remote, f"oci:{dest}:{TAG}", s.creds, "pull")
                        pulled = json.loads((dest / "index.json").read_text())["manifests"][0]["digest"]
                        assert pulled == image["manifest_digest"], f"{s.name} returned {pulled}"
                        shutil.rmtree(dest)
                    cpu = cpu_seconds(s.proc.pid) - before
                    samples.setdefault(s.name, {}).setdefault(direction, []).append(
                        {
                            "seconds": round(elapsed, 3),
                            "mb_per_s": round(image["bytes"] / elapsed / 1e6, 1),
                            "server_cpu_seconds": round(cpu, 2),
                        }
                    )
                    print(f"  {s.name:<12} {direction}: {elapsed:6.2f}s", flush=True)
            shutil.rmtree(src)
        # The best round of each: the machine may be busy with other work.
        results = {
            name: {d: max(runs, key=lambda r: r["mb_per_s"]) for d, runs in by_dir.items()}
            for name, by_dir in samples.items()
        }
        ceiling = sha256_ceiling()
    except BaseException:
        for name in ("berth.log", "distribution.log"):
            log = work / name
            if log.is_file():
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                print(f"--- {name} (tail)\n{tail}", file=sys.stderr)
        raise
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)

    ratio = {
        d: round(results["berth"][d]["mb_per_s"] / results["distribution"][d]["mb_per_s"], 2) for d in ("push", "pull")
    }
    report = {
        "image": {"layers": image["layers"], "bytes": image["bytes"], "layer_mib": args.layer_mib},
        "rounds": args.rounds,
        "results": results,
        "samples": samples,
        "ratio_berth_over_distribution": ratio,
        "sha256_single_core_mb_per_s": round(ceiling, 1),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "skopeo": subprocess.run(["skopeo", "--version"], capture_output=True, text=True).stdout.strip(),
        "distribution": subprocess.run(
            [args.distribution_bin, "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print()
    print(
        f"image: {image['layers']} layers, {image['bytes'] / 1e6:.0f} MB (MB = 10^6 bytes); "
        f"best of {args.rounds} rounds"
    )
    print(f"{'registry':<14}{'push MB/s':>11}{'pull MB/s':>11}{'push cpu s':>12}{'pull cpu s':>12}")
    for name in ("berth", "distribution"):
        r = results[name]
        print(
            f"{name:<14}{r['push']['mb_per_s']:>11.1f}{r['pull']['mb_per_s']:>11.1f}"
            f"{r['push']['server_cpu_seconds']:>12.2f}{r['pull']['server_cpu_seconds']:>12.2f}"
        )
    print(f"{'ratio b/d':<14}{ratio['push']:>11.2f}{ratio['pull']:>11.2f}")
    print(f"sha256 single core (ceiling): {ceiling:.0f} MB/s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
