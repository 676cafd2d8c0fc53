"""The server's data dir (issue 12, attacks 6 and 8).

- A second `berth server` / `berth up` on a data dir in use exits non-zero at
  once, naming the pid that holds it; the first keeps placing tasks.
- Started with umask 022, everything under the data dir is 0700/0600 after
  a run that used the server, the local agent, the registry and CloudWatch
  Logs; an existing 0644 file is tightened at start.
- `berth server` prints the root secret only when it generates it.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import urllib.parse

import pytest

from berthtest import Berth, aws_cli, berth_bin, isolate_aws_environment, unique
from test_registry import Docker
from test_tasks import docker, image, poll  # noqa: F401  (the image fixture is used by name)


@pytest.fixture
def own_berth(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    server = Berth(data_dir=data, log_path=tmp_path / "berth.log")
    try:
        yield server
    finally:
        server.stop()


def server_env() -> dict:
    env = isolate_aws_environment(dict(os.environ))
    env.pop("BERTH_ROOT_ACCESS_KEY_ID", None)
    env.pop("BERTH_ROOT_SECRET_ACCESS_KEY", None)
    return env


def run_and_remove_task(berth, image_name: str, log_group: str | None = None) -> None:
    """RunTask on the local agent until RUNNING, then stop it and remove its containers."""
    ecs = berth.client("ecs")
    family = unique("datadir")
    container = {
        "name": "app",
        "image": image_name,
        "memory": 32,
        "command": ["sh", "-c", "echo hello from the task; sleep 300"],
        "stopTimeout": 2,
        "dockerLabels": {"berth.e2e": "datadir"},
    }
    if log_group:
        container["logConfiguration"] = {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": "us-east-1",
                "awslogs-stream-prefix": "app",
                "awslogs-create-group": "true",
            },
        }
    ecs.register_task_definition(family=family, containerDefinitions=[container])
    out = ecs.run_task(cluster="default", taskDefinition=family)
    assert out["failures"] == [], out["failures"]
    arn = out["tasks"][0]["taskArn"]
    try:
        poll(
            "the task RUNNING",
            lambda: ecs.describe_tasks(cluster="default", tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING",
            90,
        )
        if log_group:
            logs = berth.client("logs")
            poll(
                "the task's line in CloudWatch Logs",
                lambda: any(
                    "hello from the task" in e["message"]
                    for e in logs.filter_log_events(logGroupName=log_group)["events"]
                ),
                60,
            )
    finally:
        ecs.stop_task(cluster="default", task=arn, reason="e2e cleanup")
        poll(
            "the task STOPPED",
            lambda: ecs.describe_tasks(cluster="default", tasks=[arn])["tasks"][0]["lastStatus"] == "STOPPED",
            60,
        )
        ids = docker("ps", "-aq", "--filter", f"label=com.amazonaws.ecs.task-arn={arn}", check=False).split()
        if ids:
            docker("rm", "-f", *ids, check=False)


def test_a_second_server_on_the_same_data_dir_exits_naming_the_holder(own_berth, image):
    own_berth.start()
    for mode in ("server", "up"):
        p = subprocess.run(
            [str(berth_bin()), mode, "--listen", "127.0.0.1:0", "--data-dir", str(own_berth.data_dir)],
            env=server_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert p.returncode != 0, p.stdout
        assert f"another Berth server (pid {own_berth.proc.pid}) is running with the data dir" in p.stderr, p.stderr
        assert "Berth is running" not in p.stdout
    # The first one was not disturbed: it still places and runs tasks.
    run_and_remove_task(own_berth, image)


def modes_under(root) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                continue
            out[os.path.relpath(p, root)] = (stat.S_ISDIR(st.st_mode), stat.S_IMODE(st.st_mode))
    return out


def test_everything_under_the_data_dir_is_private_whatever_the_umask(own_berth, image, tmp_path):
    data = own_berth.data_dir
    os.chmod(data, 0o755)
    stale = data / "left-over.txt"
    stale.write_text("from an older version")
    os.chmod(stale, 0o644)
    old = os.umask(0o022)
    try:
        own_berth.start()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(stale).st_mode) == 0o600
    log = own_berth.log_path.read_text(errors="replace")
    assert "tightened" in log and "tightened=2" in log, own_berth.log_tail()

    # The registry: docker login and push.
    host = urllib.parse.urlparse(own_berth.endpoint).netloc
    config = tmp_path / "docker-config"
    config.mkdir()
    d = Docker(config)
    try:
        login = subprocess.run(
            f"'{aws_cli()}' --endpoint-url {own_berth.endpoint} ecr get-login-password"
            f" | docker login --username AWS --password-stdin {host}",
            shell=True,
            env=dict(isolate_aws_environment(dict(os.environ)), DOCKER_CONFIG=str(config)),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert login.returncode == 0, login.stderr
        repo = f"e2e/{unique('private')}"
        own_berth.client("ecr").create_repository(repositoryName=repo)
        local = f"berth-e2e-registry-{unique('private')}:src"
        d.build(local, unique("marker"))
        d.tag(local, f"{host}/{repo}:v1")
        d.push(f"{host}/{repo}:v1")
    finally:
        d.cleanup()
    # CloudWatch Logs (an event put directly, and a task's line through the agent's awslogs shipper).
    logs = own_berth.client("logs")
    group = unique("/e2e/private")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(
        logGroupName=group, logStreamName="s", logEvents=[{"timestamp": 1_700_000_000_000, "message": "hi"}]
    )
    run_and_remove_task(own_berth, image, log_group=group)

    modes = modes_under(data)
    for must in ("state.db", "audit.db", "logs/events.db", "agent/agent-state.json", "registry", "lock"):
        assert must in modes, sorted(modes)
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    wrong = {p: oct(m) for p, (is_dir, m) in modes.items() if m != (0o700 if is_dir else 0o600)}
    assert not wrong, wrong


def read_until_data_dir(proc: subprocess.Popen) -> list[str]:
    lines = []
    for raw in proc.stdout:
        lines.append(raw.rstrip("\n"))
        if raw.strip().startswith("data dir:"):
            return lines
    raise AssertionError(f"berth server exited before printing its data dir: {lines}")


def test_berth_server_prints_the_root_secret_only_when_it_generates_it(tmp_path):
    data = tmp_path / "data"
    outputs = []
    for _ in range(2):
        proc = subprocess.Popen(
            [str(berth_bin()), "server", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
            env=server_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            outputs.append("\n".join(read_until_data_dir(proc)))
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        outputs[-1] += "\n" + err
        assert proc.returncode == 0, err
    key, secret = (data / "root-credentials").read_text().split()
    assert stat.S_IMODE(os.stat(data / "root-credentials").st_mode) == 0o600
    first, second = outputs
    assert f"secret key: {secret}" in first
    assert secret not in second, second
    assert f"secret key: (in {data / 'root-credentials'})" in second
    assert f"access key: {key}" in second
