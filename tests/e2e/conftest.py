"""Fixtures for the end-to-end tests.

- `berth`: one `berth up` shared by the whole session (tests use unique
  cluster and family names, so they do not see each other's resources).
- `fresh_berth`: a server of its own for a test that kills or restarts it.

Both yield a `berthtest.Berth` with `endpoint`, `data_dir`, `proc`,
`client(service)`, `aws(*args)` and `restart(kill9=False)`. A failing test
gets the tail of the server's log in its report.
"""

from __future__ import annotations

import collections
import os

import pytest

import berthtest

# Nothing from the developer's own AWS configuration may leak into boto3 in
# this process either.
berthtest.isolate_aws_environment(os.environ)

SERVER_FIXTURES = ("berth", "fresh_berth")


def _start(tmp_dir) -> berthtest.Berth:
    data_dir = tmp_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    return berthtest.Berth(data_dir=data_dir, log_path=tmp_dir / "berth.log").start()


def _finish(server: berthtest.Berth) -> None:
    if server.proc is None:
        return
    if server.proc.poll() is not None:
        if not server.stopped_on_purpose:
            pytest.fail(f"berth exited on its own with {server.proc.returncode} during the tests:\n{server.log_tail()}")
        return
    code = server.stop(kill9=False)
    assert code == 0, f"berth exited with {code} after SIGTERM:\n{server.log_tail()}"


@pytest.fixture(scope="session", autouse=True)
def _task_subnets_removed():
    """After the last test of this worker: every task subnet it handed out
    is removed from the host (bridge, security-group and masquerade
    tables, DOCKER-USER accepts), even those of servers stopped while
    their awsvpc tasks ran."""
    yield
    for network in berthtest.TASK_SUBNETS_GIVEN:
        berthtest.remove_task_subnet(network)


@pytest.fixture(scope="session")
def berth(tmp_path_factory):
    server = _start(tmp_path_factory.mktemp("berth-shared"))
    try:
        yield server
    finally:
        _finish(server)


@pytest.fixture
def fresh_berth(tmp_path):
    server = _start(tmp_path)
    try:
        yield server
    finally:
        _finish(server)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for name in SERVER_FIXTURES:
            server = getattr(item, "funcargs", {}).get(name)
            if isinstance(server, berthtest.Berth):
                rep.sections.append((f"berth log ({name}, {server.log_path})", server.log_tail()))


# The longest files start first, so that with pytest-xdist (`--dist loadfile`,
# which hands out whole files in collection order) none of them is left to run
# alone at the end. Measured per file (the summary below); the rest keep their
# order.
LONGEST_FIRST = (
    "test_ecs_bluegreen.py",
    "test_ecs_metrics.py",
    "test_autoscaling.py",
    "test_ecs_task_sets.py",
    "test_elbv2_services.py",
    "test_tasks.py",
    "test_awslogs.py",
    "test_services.py",
    "test_autoscaling_alb.py",
    "test_first_run.py",
    "test_boundary_sigv4.py",
    "test_boundary_iam.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


# Wall time per test file (setup, call and teardown of its tests, on whichever
# worker ran it), printed at the end: the figures that decide how the files are
# spread over pytest-xdist workers and whether CI stays within its budget.
_file_seconds: collections.Counter = collections.Counter()


def pytest_runtest_logreport(report):
    _file_seconds[report.nodeid.split("::", 1)[0]] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _file_seconds:
        return
    terminalreporter.write_sep("-", "seconds per test file (slowest first)")
    for path, secs in _file_seconds.most_common():
        terminalreporter.write_line(f"{secs:8.1f}  {path}")
