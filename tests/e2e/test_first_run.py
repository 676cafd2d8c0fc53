"""A newcomer's first hour, replayed: the README's quick start, command for
command, from an empty data dir; the terminal commands next to a `berth up`
with no flags at all; `berth up --cluster NAME` running a service in NAME;
`berth doctor`; the docs check of a plain clone (no ../shared beside it).

The quick-start commands are read from README.md (the fenced `sh` blocks
under "## Quick start"), so the README cannot drift from what works. The
replay changes two things only, both through the environment rather than the
commands: the server listens on an ephemeral port (`BERTH_LISTEN`; the
commands' `http://127.0.0.1:4600` becomes that endpoint) and keeps its state
in a temporary dir (`BERTH_DATA_DIR`). The first block starts the server;
the others run in one bash script with `set -euo pipefail`.

The quick start runs `busybox:latest`. This machine cannot pull from Docker
Hub, and the agent then uses the image from the local store (as ECS's
`ECS_IMAGE_PULL_BEHAVIOR=default` does), so when there is none the test makes
one from busybox-static (`docker import`, labelled) and removes it afterwards.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest

from berthtest import ROOT, aws_cli, berth_bin, isolate_aws_environment, requires_docker, unique
from test_host_share import DEADLINE, connected_instance, servers  # noqa: F401  (fixtures are used by name)
from test_tasks import image, poll, register, remove_cluster_containers, sleeper  # noqa: F401

README = ROOT / "README.md"
QUICK_START_ENDPOINT = "http://127.0.0.1:4600"
IMAGE = "busybox:latest"
LABEL = "berth.e2e=first-run"


pytestmark = requires_docker()


def quick_start_blocks() -> list[str]:
    text = README.read_text()
    m = re.search(r"^## Quick start\b.*?$(.*?)(?=^## )", text, re.M | re.S)
    assert m, "README.md has no '## Quick start' section"
    blocks = re.findall(r"^```sh\n(.*?)^```", m.group(1), re.M | re.S)
    assert len(blocks) >= 2, f"the quick start should start the server, then use it: {blocks}"
    return blocks


def clean_env(tmp: Path) -> dict:
    """A newcomer's shell: no AWS settings, a HOME without ~/.aws, the venv's aws on PATH."""
    env = isolate_aws_environment(dict(os.environ))
    for k in list(env):
        if k.startswith("AWS_") or k.startswith("BERTH_"):
            del env[k]
    real_home = Path(os.environ.get("HOME", "/root"))
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    # The toolchain stays where rustup put it.
    env.setdefault("RUSTUP_HOME", str(real_home / ".rustup"))
    env.setdefault("CARGO_HOME", str(real_home / ".cargo"))
    env.update(HOME=str(home), NO_COLOR="1", PATH=f"{aws_cli().parent}:{env.get('PATH', '')}")
    return env


@pytest.fixture
def busybox_latest(tmp_path):
    """`busybox:latest` in the local store: the one there, or one made here."""
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode == 0:
        yield IMAGE
        return
    busybox = shutil.which("busybox") or "/bin/busybox"
    tar_path = tmp_path / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        for d, mode in (("bin", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "echo", "sleep", "true"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    subprocess.run(
        ["docker", "import", "--change", "ENV PATH=/bin", "--change", f"LABEL {LABEL}", str(tar_path), IMAGE],
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        yield IMAGE
    finally:
        subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True, timeout=120)


class Server:
    """A long-running command whose stdout names the endpoint (`endpoint: URL`)."""

    def __init__(self, cmd: list, cwd: Path, env: dict, log: Path):
        self.log = log
        self.lines: queue.Queue = queue.Queue()
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                start_new_session=True,
            )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        with open(self.log, "ab") as out:
            for raw in self.proc.stdout:
                out.write(raw)
                out.flush()
                self.lines.put(raw.decode(errors="replace").strip())
        self.lines.put(None)

    def endpoint(self, timeout: float) -> str:
        """Waits for the `endpoint:` line (a first `cargo run --release` builds first)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None:
                raise AssertionError(f"the server exited with {self.proc.wait()}:\n{self.tail()}")
            if line.startswith("endpoint:"):
                return line.split(None, 1)[1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no endpoint within {timeout}s:\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        return self.proc.returncode


def remove_service_containers(cluster: str, service: str):
    """The containers the agent started for the service (Berth labels them with ECS's labels)."""
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.amazonaws.ecs.cluster={cluster}",
         "--filter", f"label=com.amazonaws.ecs.task-definition-family={service}"],
        capture_output=True, text=True,
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=120)


def test_the_readme_quick_start_runs_verbatim(tmp_path, busybox_latest):
    server_block, *rest = quick_start_blocks()
    server_cmd = server_block.strip()
    assert "\n" not in server_cmd, f"the first quick-start block starts the server, one command: {server_cmd!r}"
    env = clean_env(tmp_path)
    data = tmp_path / "data"
    server_env = dict(env, BERTH_LISTEN="127.0.0.1:0", BERTH_DATA_DIR=str(data), BERTH_LOG="info")
    # One simple command: run without a shell, so its exit status is the server's
    # (`cargo run` hands the process over to the binary).
    server = Server(shlex.split(server_cmd), cwd=ROOT, env=server_env, log=tmp_path / "server.log")
    try:
        # A cold `cargo run --release` compiles first (scripts/test builds it beforehand).
        endpoint = server.endpoint(timeout=1200)
        script = "set -euo pipefail\n" + "\n".join(b.replace(QUICK_START_ENDPOINT, endpoint) for b in rest)
        run = subprocess.run(
            ["bash", "-c", script], cwd=ROOT, env=dict(env, BERTH_DATA_DIR=str(data)),
            capture_output=True, text=True, timeout=900,
        )
        assert run.returncode == 0, f"the quick start failed:\n{run.stdout}\n{run.stderr}\n{server.tail()}"
        # The last command is `berth status`: the service is there with all its tasks.
        assert re.search(r"service hello ACTIVE: 2/2 running", run.stdout), run.stdout
        assert "cluster default:" in run.stdout, run.stdout
        assert server.stop() == 0, server.tail()
        assert not (data / "endpoint.json").exists(), "a clean shutdown removes the endpoint record"
    finally:
        server.stop()
        remove_service_containers("default", "hello")


def test_berth_status_needs_no_flags_next_to_berth_up(tmp_path):
    """`berth up` in a directory, `berth status` in the same one: no endpoint,
    no credentials, no region given — the data dir's record says them."""
    env = clean_env(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    # No NO_COLOR: the log goes to a file, which alone must keep it plain.
    server_env = {k: v for k, v in env.items() if k != "NO_COLOR"}
    server = Server(
        [str(berth_bin()), "up", "--listen", "127.0.0.1:0"], cwd=work,
        env=dict(server_env, BERTH_LOG="info"), log=tmp_path / "server.log",
    )
    try:
        endpoint = server.endpoint(timeout=60)
        record = work / ".berth" / "endpoint.json"
        assert oct(record.stat().st_mode & 0o777) == "0o600"
        subprocess.run(
            [str(aws_cli()), "--endpoint-url", endpoint, "ecs", "create-cluster", "--cluster-name", "first-hour"],
            env=dict(env, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1"),
            check=True, capture_output=True, timeout=60,
        )
        status = subprocess.run([str(berth_bin()), "status"], cwd=work, env=env, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith(f"Berth at {endpoint} ("), status.stdout
        assert "cluster first-hour:" in status.stdout
        # For scripts: the same as one JSON document.
        js = subprocess.run(
            [str(berth_bin()), "status", "--output", "json"], cwd=work, env=env, capture_output=True, text=True, timeout=60
        )
        doc = json.loads(js.stdout)
        assert doc["endpoint"] == endpoint
        assert "first-hour" in [c["cluster"]["clusterName"] for c in doc["clusters"]]
        # A wrong endpoint is one line that says where it came from, no backtrace.
        bad = subprocess.run(
            [str(berth_bin()), "status"], cwd=work, capture_output=True, text=True, timeout=60,
            env=dict(env, AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_ACCESS_KEY_ID="test",
                     AWS_SECRET_ACCESS_KEY="test", RUST_BACKTRACE="1"),
        )
        assert bad.returncode == 1
        assert "AWS_ENDPOINT_URL" in bad.stderr and "Stack backtrace" not in bad.stderr, bad.stderr
        assert bad.stderr.startswith("berth: "), bad.stderr
        # Logs on a pipe carry no colour codes.
        assert "\x1b[" not in server.log.read_text(errors="replace")
    finally:
        assert server.stop() == 0, server.tail()


def test_berth_up_cluster_runs_a_service_in_that_cluster(servers, image):
    name = unique("up-cluster")
    srv = servers("--cluster", name)
    try:
        ecs = srv.client("ecs")
        local = connected_instance(ecs, name)
        # The local agent serves that cluster only: `default` was not made.
        assert ecs.describe_clusters(clusters=["default"])["clusters"] == []
        family = unique("host-share")
        register(ecs, family, [sleeper("app", image)])
        svc = unique("svc")
        srv.aws("ecs", "create-service", "--cluster", name, "--service-name", svc,
                "--task-definition", family, "--desired-count", "2")

        def steady():
            s = srv.aws("ecs", "describe-services", "--cluster", name, "--services", svc)["services"][0]
            return s if s["runningCount"] == s["desiredCount"] == 2 else None

        s = poll(f"service {svc} with 2 running tasks", steady, DEADLINE)
        assert s["status"] == "ACTIVE"
        arns = ecs.list_tasks(cluster=name, serviceName=svc)["taskArns"]
        tasks = ecs.describe_tasks(cluster=name, tasks=arns)["tasks"]
        assert {t["containerInstanceArn"] for t in tasks} == {local["containerInstanceArn"]}
        ecs.update_service(cluster=name, service=svc, desiredCount=0)
        ecs.delete_service(cluster=name, service=svc)
    finally:
        srv.stop()
        remove_cluster_containers(name)


def test_berth_doctor_says_what_to_fix(tmp_path):
    """Next to a running Berth every check of the port passes; a port held by
    another program fails with the fix, exit 1; --output json for scripts."""
    env = clean_env(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    server = Server([str(berth_bin()), "up", "--listen", "127.0.0.1:0"], cwd=work, env=env, log=tmp_path / "server.log")
    try:
        endpoint = server.endpoint(timeout=60)
        addr = endpoint.split("://", 1)[1]
        ok = subprocess.run([str(berth_bin()), "doctor", "--listen", addr], cwd=work, env=env,
                            capture_output=True, text=True, timeout=60)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert re.search(rf"^ok +port +{re.escape(addr)}: a Berth is already running there$", ok.stdout, re.M), ok.stdout
        assert re.search(r"^ok +data dir +\.berth \(mode 700\), in use by a running Berth", ok.stdout, re.M), ok.stdout
        assert re.search(r"^ok +docker +Docker Engine ", ok.stdout, re.M), ok.stdout
    finally:
        assert server.stop() == 0, server.tail()
    with socket.create_server(("127.0.0.1", 0)) as other:
        addr = f"127.0.0.1:{other.getsockname()[1]}"
        bad = subprocess.run([str(berth_bin()), "doctor", "--listen", addr, "--output", "json"], cwd=work, env=env,
                             capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    checks = {c["name"]: c for c in json.loads(bad.stdout)}
    assert checks["port"]["level"] == "fail", checks
    assert "taken by another program" in checks["port"]["detail"]
    assert "--listen" in checks["port"]["fix"]
    assert bad.stderr.strip() == "berth: 1 check(s) failed: port", bad.stderr


def test_the_docs_check_skips_without_the_models_and_says_why():
    """`scripts/test` from a plain clone (no ../shared beside it) passes its
    docs stage; CI, which has the models, still fails without them."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["BERTH_AWS_MODELS"] = "/nonexistent/aws-models"
    skip = subprocess.run(["python3", "scripts/compat.py", "--check"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert skip.returncode == 0, skip.stderr
    assert "check skipped: the AWS models are not at /nonexistent/aws-models" in skip.stdout, skip.stdout
    ci = subprocess.run(["python3", "scripts/compat.py", "--check"], cwd=ROOT, env=dict(env, CI="true"),
                        capture_output=True, text=True, timeout=60)
    assert ci.returncode == 1 and "cannot generate" in ci.stderr, ci.stdout + ci.stderr
