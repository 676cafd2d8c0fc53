"""The awslogs log driver (issue 7), end to end on the real Docker daemon:
a task's output lands in CloudWatch Logs on stream `prefix/app/<task id>`
complete, in order and never twice — also when the server is killed with
SIGKILL while the task prints, or the agent is; JSON filter patterns find exactly the error
lines; `berth logs --follow` shows each line within 2 s of it being printed;
a missing group without awslogs-create-group stops the task with Docker's
reason.

It reuses the cluster/agent/image fixtures of test_tasks.py: a `berth up`
of this module, a cluster made for the test with its own `berth agent`
subprocess (so the agent survives the server's kill -9), and a busybox image
made with `docker import`; teardown stops the agents and removes every
container labelled with the cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

from test_tasks import (  # noqa: F401  (fixtures are used by name)
    Agent,
    cluster,
    image,
    poll,
    register,
    server,
)

from berthtest import ACCESS_KEY, SECRET_KEY, berth_bin, isolate_aws_environment, unique

LINES = 5000
DEADLINE = 60.0


def printer(image: str, group: str, script: str, create_group: bool = True, **extra) -> dict:
    return {
        "name": "app",
        "image": image,
        "memory": 32,
        "essential": True,
        "command": ["sh", "-c", script],
        "stopTimeout": 2,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": group,
                "awslogs-region": "us-east-1",
                "awslogs-stream-prefix": "prefix",
                "awslogs-create-group": "true" if create_group else "false",
                **extra,
            },
        },
    }


# Prints LINES numbered lines, 100 at a time every 50 ms (about 3 s in all).
NUMBERED = (
    f"i=1; while test $i -le {LINES}; do echo line $i; "
    "if test $((i % 100)) -eq 0; then sleep 0.05; fi; i=$((i+1)); done"
)


def run_task(server, cluster_name: str, family: str) -> str:
    out = server.client("ecs").run_task(cluster=cluster_name, taskDefinition=family)
    assert out["failures"] == [], out
    return out["tasks"][0]["taskArn"]


def task_of(server, cluster_name: str, arn: str) -> dict:
    return server.client("ecs").describe_tasks(cluster=cluster_name, tasks=[arn])["tasks"][0]


def stopped(server, cluster_name: str, arn: str) -> dict:
    def done():
        t = task_of(server, cluster_name, arn)
        return t if t["lastStatus"] == "STOPPED" else None

    return poll("the task to stop", done, DEADLINE)


def cli_events(server, group: str, stream: str) -> list:
    """Every event of a stream with `aws logs get-log-events`, paging with
    nextForwardToken until the token repeats."""
    events, token = [], None
    while True:
        args = ["logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream, "--start-from-head"]
        if token:
            args += ["--next-token", token]
        page = server.aws(*args)
        events += page["events"]
        if page["nextForwardToken"] == token:
            return events
        token = page["nextForwardToken"]


def boto_messages(server, group: str, stream: str) -> list:
    logs = server.client("logs")
    out, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        try:
            page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True, **kw)
        except logs.exceptions.ResourceNotFoundException:
            return []
        out += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            return out
        token = page["nextForwardToken"]


def assert_numbered(messages: list) -> None:
    expected = [f"line {i}" for i in range(1, LINES + 1)]
    if messages != expected:
        dupes = len(messages) - len(set(messages))
        missing = sorted(set(expected) - set(messages), key=lambda m: int(m.split()[1]))
        raise AssertionError(
            f"{len(messages)} events, {dupes} repeated, {len(missing)} missing (first: {missing[:5]}), "
            f"in order: {messages == sorted(messages, key=lambda m: int(m.split()[1]))}"
        )


def test_every_line_once_and_in_order_even_across_a_server_kill(server, cluster, image):
    c = cluster("awslogs")
    c.add_agent()
    group = f"/ecs/{unique('lines')}"
    family = unique("lines")
    register(server.client("ecs"), family, [printer(image, group, NUMBERED)])

    # Undisturbed.
    arn = run_task(server, c.name, family)
    stream = f"prefix/app/{arn.rsplit('/', 1)[1]}"
    t0 = time.monotonic()
    assert stopped(server, c.name, arn)["containers"][0]["exitCode"] == 0
    poll("all lines stored", lambda: len(boto_messages(server, group, stream)) >= LINES, DEADLINE)
    elapsed = time.monotonic() - t0
    events = cli_events(server, group, stream)
    assert_numbered([e["message"] for e in events])
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)
    print(f"{LINES} lines stored {elapsed:.1f}s after RunTask")

    # The server killed -9 and restarted while the task prints.
    arn = run_task(server, c.name, family)
    stream = f"prefix/app/{arn.rsplit('/', 1)[1]}"
    poll("the first lines stored", lambda: len(boto_messages(server, group, stream)) >= 300, DEADLINE)
    before = len(boto_messages(server, group, stream))
    server.restart(kill9=True)
    stopped(server, c.name, arn)
    poll("all lines stored after the restart", lambda: len(boto_messages(server, group, stream)) >= LINES, DEADLINE)
    assert before < LINES, "the kill came after the task had printed everything"
    assert_numbered([e["message"] for e in cli_events(server, group, stream)])

    # The agent killed -9 while the task prints, and started again on its
    # data dir: it resumes from its cursor.
    arn = run_task(server, c.name, family)
    stream = f"prefix/app/{arn.rsplit('/', 1)[1]}"
    poll("the first lines stored", lambda: len(boto_messages(server, group, stream)) >= 300, DEADLINE)
    agent = c.agents[-1]
    agent.kill9()
    before = len(boto_messages(server, group, stream))
    again = Agent(server, c.name, c.work, agent.az, data_dir=agent.data_dir)
    c.agents.append(again)
    again.wait_connected(server.client("ecs"))
    stopped(server, c.name, arn)
    poll("all lines after the agent restart", lambda: len(boto_messages(server, group, stream)) >= LINES, DEADLINE)
    assert before < LINES, "the agent was killed after the task had printed everything"
    assert_numbered([e["message"] for e in cli_events(server, group, stream)])


def test_filter_pattern_finds_the_error_json_lines(server, cluster, image):
    c = cluster("awslogs-json")
    c.add_agent()
    group = f"/ecs/{unique('json')}"
    family = unique("json")
    levels = ["info", "error", "warn", "info", "error", "debug", "error", "info"]
    script = "; ".join(
        f"""echo '{{"level":"{lvl}","n":{i},"msg":"event {i}"}}'""" for i, lvl in enumerate(levels)
    ) + "; echo 'plain text mentioning error'"
    register(server.client("ecs"), family, [printer(image, group, script)])
    arn = run_task(server, c.name, family)
    stream = f"prefix/app/{arn.rsplit('/', 1)[1]}"
    stopped(server, c.name, arn)
    poll("all lines stored", lambda: len(boto_messages(server, group, stream)) >= len(levels) + 1, DEADLINE)
    pattern = '{ $.level = "error" }'
    out = server.aws("logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", pattern)
    got = [json.loads(e["message"])["n"] for e in out["events"]]
    assert got == [i for i, lvl in enumerate(levels) if lvl == "error"]
    assert all(e["logStreamName"] == stream for e in out["events"])


def test_berth_logs_follow_shows_lines_within_two_seconds(server, cluster, image):
    c = cluster("awslogs-tail")
    c.add_agent()
    group = f"/ecs/{unique('tail')}"
    family = unique("tail")
    # A line every 300 ms for about 3 s.
    script = "i=1; while test $i -le 10; do echo tick $i; sleep 0.3; i=$((i+1)); done"
    register(server.client("ecs"), family, [printer(image, group, script)])
    arn = run_task(server, c.name, family)
    env = isolate_aws_environment(dict(os.environ))
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    cmd = [str(berth_bin()), "logs", arn, "--cluster", c.name, "--follow", "--endpoint", server.endpoint]
    follow = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: dict[str, float] = {}

    def read() -> None:
        assert follow.stdout is not None
        for line in follow.stdout:
            seen.setdefault(line.rstrip("\n"), time.time())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        follow.wait(timeout=DEADLINE)
    finally:
        if follow.poll() is None:
            follow.kill()
    reader.join(timeout=10)
    assert follow.returncode == 0, follow.stderr.read() if follow.stderr else ""
    expected = [f"tick {i}" for i in range(1, 11)]
    assert list(seen) == expected, "berth logs --follow printed every line once, in order, then ended"

    stream = f"prefix/app/{arn.rsplit('/', 1)[1]}"
    printed_at = {e["message"]: e["timestamp"] / 1000 for e in cli_events(server, group, stream)}
    latency = {m: seen[m] - printed_at[m] for m in expected}
    print("ship latency (s): " + ", ".join(f"{v:.2f}" for v in latency.values()))
    assert max(latency.values()) < 2.0, latency

    # Without --follow: what is stored, once.
    p = subprocess.run(cmd[:-3] + ["--endpoint", server.endpoint], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == expected


def test_filter_log_events_follow_like_aws_logs_tail(server, cluster, image):
    """`aws logs tail --follow` (aws CLI v2; the v1 CLI installed here has no
    `logs tail`) polls FilterLogEvents on the group from the last timestamp it
    saw and drops event ids it already printed. The same loop with boto3 sees
    each line of a running task within 2 s of its timestamp."""
    c = cluster("awslogs-filter-tail")
    c.add_agent()
    group = f"/ecs/{unique('ftail')}"
    family = unique("ftail")
    script = "i=1; while test $i -le 10; do echo tick $i; sleep 0.3; i=$((i+1)); done"
    register(server.client("ecs"), family, [printer(image, group, script)])
    start_ms = int(time.time() * 1000) - 1000
    arn = run_task(server, c.name, family)
    logs = server.client("logs")
    seen_ids: set = set()
    seen_at: dict = {}
    since = start_ms
    expected = [f"tick {i}" for i in range(1, 11)]
    deadline = time.time() + DEADLINE
    while time.time() < deadline and len(seen_at) < len(expected):
        try:
            kw: dict = {}
            while True:
                page = logs.filter_log_events(logGroupName=group, startTime=since, interleaved=True, **kw)
                for e in page["events"]:
                    if e["eventId"] not in seen_ids:
                        seen_ids.add(e["eventId"])
                        seen_at.setdefault(e["message"], (time.time(), e["timestamp"] / 1000))
                        since = max(since, e["timestamp"])
                if not page.get("nextToken"):
                    break
                kw = {"nextToken": page["nextToken"]}
        except logs.exceptions.ResourceNotFoundException:
            pass  # the group is created when the container starts
        time.sleep(0.5)  # the polling interval of `aws logs tail --follow`
    assert sorted(seen_at, key=lambda m: int(m.split()[1])) == expected, seen_at
    latency = {m: seen - printed for m, (seen, printed) in seen_at.items()}
    print("filter-follow latency (s): " + ", ".join(f"{v:.2f}" for v in latency.values()))
    assert max(latency.values()) < 2.0, latency
    stopped(server, c.name, arn)


def test_missing_group_without_create_group_stops_the_task(server, cluster, image):
    c = cluster("awslogs-nogroup")
    c.add_agent()
    group = f"/ecs/{unique('missing')}"
    family = unique("nogroup")
    register(server.client("ecs"), family, [printer(image, group, "echo never", create_group=False)])
    arn = run_task(server, c.name, family)
    task = stopped(server, c.name, arn)
    reason = task["containers"][0].get("reason", "")
    assert "failed to initialize logging driver" in reason and "The specified log group does not exist." in reason, task
    assert reason.startswith("CannotStartContainerError: "), reason
    assert task.get("stopCode") == "TaskFailedToStart", task

    # A task without awslogs: berth logs says so.
    plain = unique("plain")
    register(server.client("ecs"), plain, [{"name": "app", "image": image, "memory": 32, "command": ["true"]}])
    arn = run_task(server, c.name, plain)
    env = isolate_aws_environment(dict(os.environ))
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    p = subprocess.run(
        [str(berth_bin()), "logs", arn, "--cluster", c.name, "--endpoint", server.endpoint],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode != 0
    assert "awslogs" in p.stderr and "app: json-file" in p.stderr, p.stderr


def test_metrics_show_placement_latency_and_registry_bytes(server, cluster, image):
    import requests
    from prometheus_client.parser import text_string_to_metric_families

    c = cluster("awslogs-metrics")
    c.add_agent()
    family = unique("metrics")
    register(server.client("ecs"), family, [{"name": "app", "image": image, "memory": 32, "command": ["true"]}])
    run_task(server, c.name, family)
    v2 = requests.get(f"{server.endpoint}/v2/", timeout=10)
    r = requests.get(f"{server.endpoint}/metrics", timeout=10)
    assert r.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    placement = {s.name: s.value for s in families["berth_placement_duration_seconds"].samples}
    assert placement["berth_placement_duration_seconds_count"] >= 1
    traffic = {s.labels["direction"]: s.value for s in families["berth_registry_bytes"].samples}
    assert traffic["out"] >= len(v2.content) > 0
    assert "in" in traffic
