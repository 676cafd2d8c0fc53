"""`berth status` and `berth tasks wait`: the terminal conveniences, run as a
person would, against a `berth up` with its local agent."""

from __future__ import annotations

import os
import subprocess

from berthtest import ACCESS_KEY, REGION, SECRET_KEY, berth_bin, isolate_aws_environment, unique
from test_tasks import docker, image  # noqa: F401  (the image fixture is used by name)


def berth_cli(server, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = isolate_aws_environment(dict(os.environ))
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION=REGION)
    return subprocess.run(
        [str(berth_bin()), *args, "--endpoint", server.endpoint],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_task(berth, image_name: str, command: list[str]) -> str:
    ecs = berth.client("ecs")
    family = unique("cli")
    ecs.register_task_definition(
        family=family,
        containerDefinitions=[
            {"name": "app", "image": image_name, "memory": 32, "command": command, "stopTimeout": 2,
             "dockerLabels": {"berth.e2e": "cli"}}
        ],
    )
    return ecs.run_task(cluster="default", taskDefinition=family)["tasks"][0]["taskArn"]


def remove_task_containers(arn: str) -> None:
    ids = docker("ps", "-aq", "--filter", f"label=com.amazonaws.ecs.task-arn={arn}", check=False).split()
    if ids:
        docker("rm", "-f", *ids, check=False)


def test_tasks_wait_until_running_then_status_shows_the_task(berth, image):
    arn = run_task(berth, image, ["sleep", "300"])
    try:
        waited = berth_cli(berth, "tasks", "wait", arn, "--until", "RUNNING", "--timeout", "90")
        assert waited.returncode == 0, waited.stderr
        assert waited.stdout.strip() == "RUNNING"
        assert "RUNNING" in waited.stderr  # the live status line

        status = berth_cli(berth, "status")
        assert status.returncode == 0, status.stderr
        assert "cluster default:" in status.stdout
        assert "agent connected" in status.stdout
        task_id = arn.rsplit("/", 1)[1]
        assert f"task {task_id} RUNNING" in status.stdout, status.stdout
    finally:
        berth.client("ecs").stop_task(cluster="default", task=arn, reason="e2e cleanup")
        stopped = berth_cli(berth, "tasks", "wait", arn, "--until", "STOPPED", "--timeout", "60")
        assert stopped.returncode == 0, stopped.stderr
        remove_task_containers(arn)


def test_tasks_wait_reports_a_task_that_stopped_instead(berth):
    # An image no registry has: the task can only fail to start.
    arn = run_task(berth, f"127.0.0.1:9/{unique('missing')}:1", ["true"])
    try:
        waited = berth_cli(berth, "tasks", "wait", arn, "--until", "RUNNING", "--timeout", "90")
        assert waited.returncode != 0
        assert "task stopped before reaching RUNNING" in waited.stderr, waited.stderr
        assert "CannotPullContainerError" in waited.stderr and "TaskFailedToStart" in waited.stderr, waited.stderr
        stopped = berth_cli(berth, "tasks", "wait", arn, "--until", "STOPPED", "--timeout", "60")
        assert stopped.returncode == 0 and stopped.stdout.strip() == "STOPPED", stopped.stderr
    finally:
        remove_task_containers(arn)


def test_cli_without_credentials_says_what_to_set(berth):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BERTH_ROOT_"))}
    done = subprocess.run(
        [str(berth_bin()), "status", "--endpoint", berth.endpoint], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0
    assert "AWS_ACCESS_KEY_ID" in done.stderr
