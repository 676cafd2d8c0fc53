"""Fixtures for the end-to-end tests.

- `berth`: one `berth up` shared by the whole session (tests use unique
  cluster and family names, so they do not see each other's resources).
- `fresh_berth`: a server of its own for a test that kills or restarts it.

Both yield a `berthtest.Berth` with `endpoint`, `data_dir`, `proc`,
`client(service)`, `aws(*args)` and `restart(kill9=False)`. A failing test
gets the tail of the server's log in its report.
"""

from __future__ import annotations

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
