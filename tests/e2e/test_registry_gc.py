"""The registry's garbage collection under fire, end to end: eight clients
push images that share a base layer (the OCI Distribution API over HTTP,
with `requests`) and delete some of them, while `berth registry gc` runs in
a loop; afterwards every surviving image pulls with every blob's digest
verified, and once the grace window has passed no unreferenced blob is
left. Then the server is killed (-9) in the middle of a collection of
3,000 garbage blobs and restarted: the same holds.

The server is this module's own (`--registry-gc-interval-secs 0`: only the
test collects; `--registry-gc-grace-secs 1`). No Docker image or container
is created.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
import requests

import berthtest
from berthtest import poll, unique

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
GRACE_SECS = 1


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-gc")
    (tmp / "data").mkdir()
    b = berthtest.Berth(
        data_dir=tmp / "data",
        log_path=tmp / "berth.log",
        extra_args=["--registry-gc-interval-secs", "0", "--registry-gc-grace-secs", str(GRACE_SECS)],
    ).start()
    try:
        yield b
    finally:
        b.stop()


class Client:
    """The OCI Distribution API of one repository, as root."""

    def __init__(self, server, repo: str):
        self.server, self.repo = server, repo
        self.session = requests.Session()
        self.refresh()

    def refresh(self):
        token = self.server.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
        self.session.headers["Authorization"] = "Basic " + token

    def url(self, path: str) -> str:
        return f"{self.server.endpoint}/v2/{self.repo}/{path}"

    def push_blob(self, data: bytes) -> dict:
        d = sha256(data)
        r = self.session.post(self.url(f"blobs/uploads/?digest={d}"), data=data, timeout=60,
                              headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        return {"digest": d, "size": len(data)}

    def push_image(self, tag: str, base: bytes, own: bytes) -> tuple[str, list[str]]:
        """Uploads the blobs and the manifest, again when a collection took a
        blob first (MANIFEST_BLOB_UNKNOWN), as a client would."""
        for _ in range(20):
            layers = [self.push_blob(base), self.push_blob(own)]
            config = self.push_blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
                "type": "layers", "diff_ids": [layer["digest"] for layer in layers]}, "tag": tag}).encode())
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, **config},
                "layers": [{"mediaType": OCI_LAYER, **layer} for layer in layers],
            }).encode()
            r = self.session.put(self.url(f"manifests/{tag}"), data=manifest, timeout=60,
                                 headers={"Content-Type": OCI_MANIFEST})
            if r.status_code == 201:
                assert r.headers["Docker-Content-Digest"] == sha256(manifest)
                return sha256(manifest), [config["digest"], *(layer["digest"] for layer in layers)]
            assert r.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN", r.text
        raise AssertionError(f"{tag}: refused 20 times")

    def delete(self, digest: str):
        r = self.session.delete(self.url(f"manifests/{digest}"), timeout=60)
        assert r.status_code == 202, r.text

    def pull_verified(self, tag: str) -> set[str]:
        """Pulls `tag` and each of its blobs, checking every digest; returns them all."""
        r = self.session.get(self.url(f"manifests/{tag}"), timeout=60, headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200, f"{tag}: {r.status_code} {r.text}"
        manifest = r.json()
        out = {sha256(r.content)}
        for desc in [manifest["config"], *manifest["layers"]]:
            b = self.session.get(self.url(f"blobs/{desc['digest']}"), timeout=60)
            assert b.status_code == 200 and sha256(b.content) == desc["digest"], f"{tag}: {desc['digest']}: {b.status_code}"
            out.add(desc["digest"])
        return out


def blob_files(data_dir: Path) -> set[str]:
    out = set()
    for blobs in data_dir.rglob("blobs"):
        if blobs.parent.name == "registry":
            out |= {f"{f.parent.parent.name}:{f.name}" for f in blobs.rglob("*")
                    if f.is_file() and not f.name.startswith(".tmp-")}
    return out


def gc(server, *extra) -> dict:
    env = berthtest.isolate_aws_environment(dict(os.environ))
    p = subprocess.run([str(berthtest.berth_bin()), "registry", "gc", *extra, "--output", "json",
                        "--endpoint", server.endpoint, "--data-dir", str(server.data_dir)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def collected_down_to(server, referenced: set[str]) -> bool:
    """One collection; whether exactly the referenced blobs are left."""
    gc(server)
    return blob_files(server.data_dir) == referenced


def test_gc_under_fire_then_kill_9_mid_collection(server):
    ecr = server.client("ecr")
    repo = f"e2e/{unique('gc')}"
    ecr.create_repository(repositoryName=repo)
    base = b"a base layer every image shares\n" + os.urandom(4096)
    kept: dict[str, set[str]] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()
    pushing = threading.Event()
    pushing.set()

    def pusher(n: int):
        try:
            c = Client(server, repo)
            for i in range(8):
                tag = f"p{n}-{i}"
                digest, _ = c.push_image(tag, base, f"{tag} {os.urandom(8).hex()}\n".encode() * 64)
                if i % 3 == 0:
                    c.delete(digest)
                else:
                    with lock:
                        kept[tag] = c.pull_verified(tag)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    runs = []

    def collector():
        while pushing.is_set():
            runs.append(gc(server))

    col = threading.Thread(target=collector)
    col.start()
    threads = [threading.Thread(target=pusher, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pushing.clear()
    col.join()
    assert not errors, errors
    assert len(kept) == 8 * 5 and runs, (len(kept), len(runs))

    c = Client(server, repo)
    referenced = set().union(*(c.pull_verified(tag) for tag in kept))
    # Once the grace window has passed, a collection leaves only them.
    poll("only referenced blobs to be left", lambda: collected_down_to(server, referenced), 30, interval=0.5)

    # 3,000 garbage blobs (uploaded, never referenced), then a kill -9
    # while they are being collected.
    garbage = 3000

    def fill(k: int):
        mine = Client(server, repo)
        for i in range(k, garbage, 8):
            mine.push_blob(f"garbage {i} {os.urandom(8).hex()}".encode())

    fillers = [threading.Thread(target=fill, args=(k,)) for k in range(8)]
    for t in fillers:
        t.start()
    for t in fillers:
        t.join()
    total = len(blob_files(server.data_dir))
    assert total == len(referenced) + garbage
    poll("the garbage to pass the grace window", lambda: gc(server, "--dry-run")["garbageBlobs"] == garbage, 30)
    env = berthtest.isolate_aws_environment(dict(os.environ))
    proc = subprocess.Popen([str(berthtest.berth_bin()), "registry", "gc", "--endpoint", server.endpoint,
                             "--data-dir", str(server.data_dir)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        left = poll("the collection to start deleting",
                    lambda: (n := len(blob_files(server.data_dir))) < total and n, 60, interval=0.005)
        server.stop(kill9=True)
    finally:
        proc.wait(timeout=60)
    assert left > len(referenced), "killed before the collection finished"
    server.start()
    c = Client(server, repo)
    for tag in kept:
        c.pull_verified(tag)
    poll("only referenced blobs to be left after the restart",
         lambda: collected_down_to(server, referenced), 30, interval=0.5)
    for tag in kept:
        c.pull_verified(tag)
