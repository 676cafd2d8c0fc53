"""The container image: scripts/image builds it from the release binary (FROM
scratch, nothing pulled), `docker run` starts `berth up` in it, and the aws
CLI on this machine answers through the published port."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import requests

from berthtest import ROOT, aws_cli, isolate_aws_environment, requires_docker

LABEL = "berth.e2e=image"


pytestmark = requires_docker()


def release_binary() -> Path:
    path = Path(os.environ.get("BERTH_RELEASE_BIN", ROOT / "target" / "release" / "berth"))
    if not path.is_file():
        raise RuntimeError(f"{path} does not exist: cargo build --release -p berth (scripts/test does)")
    return path


def docker(*args: str, check: bool = True, timeout: float = 300) -> str:
    p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout.strip()


def test_the_image_runs_berth_up_and_answers_the_aws_cli():
    tag = f"berth-e2e-image:{uuid.uuid4().hex[:10]}"
    name = f"berth-e2e-image-{uuid.uuid4().hex[:10]}"
    build = subprocess.run(
        [str(ROOT / "scripts" / "image"), "--binary", str(release_binary()), "--tag", tag, "--label", LABEL],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stderr
    try:
        # FROM scratch: one layer, the binary, its libraries and a few files.
        layers = docker("image", "inspect", "--format", "{{len .RootFS.Layers}}", tag)
        assert layers == "1", f"{tag} has {layers} layers"
        docker("run", "-d", "--name", name, "--label", LABEL, "-p", "127.0.0.1::4600", tag)
        port = docker("port", name, "4600/tcp").splitlines()[0].rsplit(":", 1)[1]
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        last = None
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{endpoint}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException as e:
                last = e
            time.sleep(0.2)  # polling interval, bounded by the deadline
        else:
            raise AssertionError(f"/healthz did not answer within 60 s ({last}):\n{docker('logs', name, check=False)}")
        env = isolate_aws_environment(dict(os.environ))
        out = subprocess.run(
            [str(aws_cli()), "--endpoint-url", endpoint, "ecs", "create-cluster", "--cluster-name", "in-a-container"],
            env=env, capture_output=True, text=True, timeout=60,
        )
        assert out.returncode == 0, out.stderr
        out = subprocess.run(
            [str(aws_cli()), "--endpoint-url", endpoint, "ecs", "list-clusters"],
            env=env, capture_output=True, text=True, timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert "arn:aws:ecs:us-east-1:000000000000:cluster/in-a-container" in out.stdout, out.stdout
        logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True, timeout=60)
        assert "Berth is running." in logs.stdout, logs.stdout + logs.stderr
        # No Docker socket in the container: the agent says so, the API keeps serving.
        assert "local agent is disabled" in logs.stdout + logs.stderr, logs.stdout + logs.stderr
        # Inside the container `berth status` needs no flags either (BERTH_DATA_DIR=/data holds the record).
        status = docker("exec", name, "/usr/local/bin/berth", "status")
        assert "cluster in-a-container:" in status, status
    finally:
        docker("rm", "-f", name, check=False)
        docker("rmi", "-f", tag, check=False)
