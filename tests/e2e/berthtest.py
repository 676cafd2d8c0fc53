"""Helpers for Berth's end-to-end tests: a `berth up` process under test, and
the clients that talk to it (boto3, the aws CLI v1, raw SigV4-signed HTTP),
IAM users with a policy of their own (`make_user`, `denied`) and free ports.

The tests import this module directly (`from berthtest import ...`); the
fixtures in conftest.py build on it.
"""

from __future__ import annotations

import datetime
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from unittest import mock

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY = "test"
SECRET_KEY = "test"
REGION = "us-east-1"
ACCOUNT = "000000000000"
ECS_TARGET = "AmazonEC2ContainerServiceV20141113"

# Shares of this host (docs/agent-protocol.md §1: the server counts a host
# once). `berth up`'s local agent takes a modest share unless a test gives
# it its own; every extra `berth agent` of a test takes a small one, so a
# module's agents (about a dozen) fit next to it on a 1-core, 8 GiB host.
LOCAL_AGENT_CPU = 512
LOCAL_AGENT_MEMORY = 2048
TEST_AGENT_CPU = 32
TEST_AGENT_MEMORY = 512

# How long a server may take to start or to stop before the test fails.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


def berth_bin() -> Path:
    """The binary under test: $BERTH_BIN, else target/debug/berth."""
    path = Path(os.environ.get("BERTH_BIN", ROOT / "target" / "debug" / "berth"))
    if not path.is_file():
        raise RuntimeError(f"{path} does not exist: build it first (cargo build -p berth) or set BERTH_BIN")
    return path


def aws_cli() -> Path:
    """The aws CLI v1 installed beside the running interpreter (the .venv)."""
    for candidate in (Path(sys.executable).parent / "aws", ROOT / ".venv" / "bin" / "aws"):
        if candidate.is_file():
            return candidate
    raise RuntimeError("the aws CLI is not installed: run .ci/run, or pip install -r tests/e2e/requirements.txt")


def docker_running() -> bool:
    """Whether a Docker Engine answers `docker info`."""
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True, timeout=30
    ).returncode == 0


def requires_docker():
    """A module's `pytestmark`: skipped without Docker, failed instead when
    BERTH_REQUIRE_DOCKER is set (CI)."""
    import pytest

    return pytest.mark.skipif(
        not os.environ.get("BERTH_REQUIRE_DOCKER") and not docker_running(),
        reason="needs a running Docker Engine (set BERTH_REQUIRE_DOCKER=1 to fail instead)",
    )


def unique(prefix: str) -> str:
    """A name no other test uses (ECS names: letters, digits, '-' and '_')."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def isolate_aws_environment(env: dict) -> dict:
    """Drops the caller's AWS settings so nothing but our endpoint and keys is used."""
    for k in list(env):
        if k.startswith("AWS_"):
            del env[k]
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
        AWS_MAX_ATTEMPTS="1",
        AWS_RETRY_MODE="standard",
    )
    return env


class AwsCliError(Exception):
    """A failed `aws` invocation, with the AWS error code parsed from stderr."""

    def __init__(self, args, returncode: int, stdout: str, stderr: str):
        self.args_ = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        # aws CLI v1: "An error occurred (Code) when calling the Op operation: message"
        self.code = None
        self.message = stderr.strip()
        marker = "An error occurred ("
        if marker in stderr:
            rest = stderr.split(marker, 1)[1]
            self.code = rest.split(")", 1)[0]
            if ": " in rest:
                self.message = rest.split(": ", 1)[1].strip()
        super().__init__(f"aws {' '.join(map(str, args))} exited {returncode}: {stderr.strip()}")


class RawResponse:
    """A raw HTTP answer with the awsJson error fields pulled out."""

    def __init__(self, resp: requests.Response):
        self.status = resp.status_code
        self.headers = resp.headers
        self.text = resp.text
        try:
            self.json = resp.json()
        except ValueError:
            self.json = None
        body = self.json if isinstance(self.json, dict) else {}
        raw_type = body.get("__type") or resp.headers.get("x-amzn-ErrorType") or ""
        # AWS may qualify the code ("namespace#Code") or append ":url" to the header form.
        self.code = raw_type.split("#")[-1].split(":")[0] or None
        self.message = body.get("message") or body.get("Message")
        self.request_id = resp.headers.get("x-amzn-RequestId")


class Berth:
    """One `berth up` process on 127.0.0.1 with its own data dir.

    The first start listens on port 0 and reads the endpoint the server prints;
    restarts reuse that port and the same data dir.
    """

    def __init__(
        self, data_dir: Path, log_path: Path, extra_env: dict | None = None, extra_args: list | None = None
    ):
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.extra_env = dict(extra_env or {})
        # More `berth up` flags, e.g. ["--agent-grace-period-secs", "5"].
        self.extra_args = [str(a) for a in (extra_args or [])]
        self.port = 0
        # The address `--listen` binds (a test whose agents run in other network namespaces gives
        # the root-side address of their link).
        self.listen_host = "127.0.0.1"
        self.proc: subprocess.Popen | None = None
        # False while the process runs on its own: an exit then is a crash.
        self.stopped_on_purpose = False
        self.endpoint: str | None = None
        # `berth up --tls`: the generated CA the clients trust.
        self.ca_bundle: Path | None = self.data_dir / "tls" / "ca.pem" if "--tls" in self.extra_args else None
        self._stdout_lines: queue.Queue = queue.Queue()
        self._clients: dict = {}
        # The awsvpc subnet of this server's local agent (see `task_subnet`).
        self.task_subnet: str | None = None

    # ---- process control ----

    def start(self) -> "Berth":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        env = isolate_aws_environment(dict(os.environ))
        env.pop("BERTH_ROOT_ACCESS_KEY_ID", None)
        env.pop("BERTH_ROOT_SECRET_ACCESS_KEY", None)
        env.setdefault("BERTH_LOG", "info")
        env.setdefault("NO_COLOR", "1")
        env.update(self.extra_env)
        cmd = [
            str(berth_bin()),
            "up",
            "--listen",
            f"{self.listen_host}:{self.port}",
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]
        if "--agent-cpu" not in self.extra_args:
            cmd += ["--agent-cpu", str(LOCAL_AGENT_CPU)]
        if "--agent-memory" not in self.extra_args:
            cmd += ["--agent-memory", str(LOCAL_AGENT_MEMORY)]
        if "--task-subnet" not in self.extra_args and "BERTH_TASK_SUBNET" not in self.extra_env:
            # Chosen once: restarts keep the subnet their tasks' leases are in.
            if self.task_subnet is None:
                picked = task_subnet()
                self.task_subnet = picked[0] if picked else ""
            if self.task_subnet:
                cmd += ["--task-subnet", self.task_subnet]
        log = open(self.log_path, "ab")
        log.write(f"\n===== {' '.join(cmd)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=self.data_dir,
        )
        log.close()
        self.stopped_on_purpose = False
        self._stdout_lines = queue.Queue()
        threading.Thread(target=self._pump_stdout, args=(self.proc, self._stdout_lines), daemon=True).start()
        self.endpoint = self._read_endpoint()
        self.port = int(self.endpoint.rsplit(":", 1)[1])
        self._wait_healthy()
        self._clients = {}
        return self

    def _pump_stdout(self, proc: subprocess.Popen, lines: queue.Queue) -> None:
        """Copies the server's stdout to the log and hands each line to the reader."""
        with open(self.log_path, "ab") as log:
            for raw in proc.stdout:
                log.write(raw)
                log.flush()
                lines.put(raw.decode(errors="replace").rstrip("\n"))
        lines.put(None)

    def _read_endpoint(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail_start("did not print its endpoint")
            try:
                line = self._stdout_lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self._fail_start("exited before printing its endpoint")
            stripped = line.strip()
            if stripped.startswith("endpoint:"):
                return stripped.split(None, 1)[1].strip()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._fail_start(f"exited with {self.proc.returncode} before /healthz answered")
            try:
                r = requests.get(f"{self.endpoint}/healthz", timeout=5, verify=self.verify)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except requests.RequestException as e:
                last = repr(e)
            # Bounded back-off between probes; also notices an early exit.
            try:
                self.proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
        self._fail_start(f"/healthz did not answer within {START_TIMEOUT}s (last: {last})")

    def _fail_start(self, why: str):
        self.kill()
        raise RuntimeError(f"berth {why}; log {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, kill9: bool = False, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGKILL (kill9) or SIGTERM; waits for the exit and returns its code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.stopped_on_purpose = True
        self.proc.send_signal(signal.SIGKILL if kill9 else signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)
            raise RuntimeError(f"berth did not exit within {timeout}s of SIGTERM:\n{self.log_tail()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stopped_on_purpose = True
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)

    def restart(self, kill9: bool = False) -> int | None:
        """Stops the server (SIGKILL or SIGTERM) and starts it on the same port and data dir."""
        code = self.stop(kill9=kill9)
        self.start()
        return code

    # ---- clients ----

    @property
    def verify(self):
        """What requests/boto3 verify TLS with: the generated CA, else the defaults."""
        return str(self.ca_bundle) if self.ca_bundle else True

    def client(self, service: str = "ecs", access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, **config):
        """A boto3 client for this server (no retries, so errors show as they are)."""
        key = (service, access_key, secret_key, tuple(sorted(config.items())), self.endpoint)
        if key not in self._clients:
            cfg = botocore.config.Config(
                retries={"total_max_attempts": 1},
                connect_timeout=10,
                read_timeout=60,
                max_pool_connections=32,
                **config,
            )
            session = boto3.session.Session(
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                region_name=REGION,
            )
            self._clients[key] = session.client(service, endpoint_url=self.endpoint, config=cfg, verify=self.verify)
        return self._clients[key]

    def aws(self, *args):
        """Runs the aws CLI v1 against this server; returns the parsed JSON output.

        Raises AwsCliError (with .code and .message) when the command fails.
        """
        tls = ["--ca-bundle", str(self.ca_bundle)] if self.ca_bundle else []
        cmd = [str(aws_cli()), "--endpoint-url", self.endpoint, *tls, "--output", "json", *map(str, args)]
        env = isolate_aws_environment(dict(os.environ))
        p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise AwsCliError(args, p.returncode, p.stdout, p.stderr)
        out = p.stdout.strip()
        return json.loads(out) if out else {}

    def signed_request(
        self,
        target: str | None,
        body: bytes | str,
        *,
        access_key: str = ACCESS_KEY,
        secret_key: str = SECRET_KEY,
        service: str = "ecs",
        at: datetime.datetime | None = None,
        content_type: str = "application/x-amz-json-1.1",
    ) -> RawResponse:
        """POSTs `body` signed with SigV4 by botocore (optionally as of time `at`)."""
        if isinstance(body, str):
            body = body.encode()
        headers = {"Content-Type": content_type}
        if target is not None:
            headers["X-Amz-Target"] = target
        req = botocore.awsrequest.AWSRequest(method="POST", url=f"{self.endpoint}/", data=body, headers=headers)
        signer = botocore.auth.SigV4Auth(
            botocore.credentials.Credentials(access_key, secret_key), service, REGION
        )
        if at is None:
            signer.add_auth(req)
        else:
            with mock.patch("botocore.auth.get_current_datetime", return_value=at):
                signer.add_auth(req)
        prepared = req.prepare()
        resp = requests.post(prepared.url, headers=dict(prepared.headers), data=body, timeout=30, verify=self.verify)
        return RawResponse(resp)

    def unsigned_request(self, target: str | None, body: bytes | str) -> RawResponse:
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        if target is not None:
            headers["X-Amz-Target"] = target
        return RawResponse(requests.post(f"{self.endpoint}/", headers=headers, data=body, timeout=30))


def poll(what: str, fn, deadline: float, interval: float = 0.2):
    """Calls fn until it returns something truthy (and returns that), or fails after `deadline`
    seconds naming `what` and the last answer. The interval bounds how often, not what is waited for."""
    end = time.monotonic() + deadline
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline}s waiting for {what}; last: {last!r}")
        time.sleep(interval)  # poll interval, not synchronisation


# Ports the tests choose come from 20000-31999, below Linux's ephemeral range (32768-60999 by
# default), so no port the OS hands out (a server on port 0, an outgoing connection) takes one
# between its choice and its use; each pytest-xdist worker has its own slice, and a process never
# hands out the same port twice while others remain.
_PORT_BASE, _PORT_SPAN, _PORT_SLICES = 20000, 1500, 8
_ports_given: set[int] = set()


def worker_index() -> int:
    """This pytest-xdist worker's number (0 without xdist): its slice of ports and subnets."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    try:
        return int(name.removeprefix("gw")) % _PORT_SLICES
    except ValueError:
        return 0


def free_ports(n: int) -> list[int]:
    """`n` distinct TCP ports free on every interface now (each bound once to check, all held at
    once): for servers a test starts, or listeners Berth opens. Taken from this worker's slice of
    20000-31999, outside the ephemeral range."""
    lo = _PORT_BASE + worker_index() * _PORT_SPAN
    candidates = [p for p in range(lo, lo + _PORT_SPAN) if p not in _ports_given]
    if len(candidates) < n:
        _ports_given.clear()
        candidates = list(range(lo, lo + _PORT_SPAN))
    random.shuffle(candidates)
    held: list[socket.socket] = []
    try:
        for port in candidates:
            s = socket.socket()
            try:
                s.bind(("", port))
            except OSError:
                s.close()
                continue
            held.append(s)
            if len(held) == n:
                break
        assert len(held) == n, f"fewer than {n} free ports in {lo}-{lo + _PORT_SPAN - 1}"
        ports = [s.getsockname()[1] for s in held]
        _ports_given.update(ports)
        return ports
    finally:
        for s in held:
            s.close()


def task_subnet() -> tuple[str, str, str] | None:
    """A /24 for awsvpc tasks that no Docker network or agent bridge on this host uses, from this
    worker's slice of 10.200-247.x.0: (cidr, Docker network name, bridge name); None without Docker. Each `berth up`
    the tests start gets one, so servers running side by side never share an awsvpc network."""
    if not docker_running():
        return None
    used = set()
    nets = subprocess.run(["docker", "network", "ls", "-q"], capture_output=True, text=True).stdout.split()
    if nets:
        out = subprocess.run(["docker", "network", "inspect", *nets], capture_output=True, text=True).stdout
        for net in json.loads(out or "[]"):
            for cfg in (net.get("IPAM") or {}).get("Config") or []:
                used.add(cfg.get("Subnet"))
    # Agents make their task bridges themselves (`berth<network address in hex>`): one that
    # exists is another agent's (or left by one stopped while its tasks ran).
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    while True:
        a, b = 200 + worker_index() * 6 + random.randint(0, 5), random.randint(0, 255)
        cidr = f"10.{a}.{b}.0/24"
        bridge = "berth" + "".join(f"{x:02x}" for x in (10, a, b, 0))
        if cidr not in used and f" {bridge}:" not in links:
            network = f"berth-vpc-10-{a}-{b}-0-24"
            TASK_SUBNETS_GIVEN.append(network)
            return cidr, network, bridge


# Every task subnet this process handed out (Docker network names): the
# session's last step removes what their agents left (`remove_task_subnet`).
TASK_SUBNETS_GIVEN: list[str] = []


def remove_task_subnet(network: str) -> None:
    """Removes what an agent of a task subnet leaves on the host when it is stopped while its
    awsvpc tasks run (kept for the agent's next start): its bridge (`berth<network address in
    hex>`), its security-group table (`inet berth_sg_<hex>`), its masquerade table
    (`ip berth_host_<hex>`), its accepts in iptables' DOCKER-USER chain, and the Docker network
    of an earlier Berth (`berth-vpc-A-B-C-D-LEN`)."""
    subprocess.run(["docker", "network", "rm", network], capture_output=True, timeout=120)
    a, b, c, d = (int(x) for x in network.removeprefix("berth-vpc-").split("-")[:4])
    hexa = f"{a:02x}{b:02x}{c:02x}{d:02x}"
    subprocess.run(["ip", "link", "del", f"berth{hexa}"], capture_output=True, timeout=30)
    subprocess.run(["nft", "delete", "table", "inet", f"berth_sg_{hexa}"], capture_output=True, timeout=30)
    subprocess.run(["nft", "delete", "table", "ip", f"berth_host_{hexa}"], capture_output=True, timeout=30)
    for direction in ("-i", "-o"):
        subprocess.run(
            ["iptables", "-D", "DOCKER-USER", direction, f"berth{hexa}", "-m", "comment", "--comment",
             "berth awsvpc", "-j", "ACCEPT"],
            capture_output=True, timeout=30,
        )


def free_port() -> int:
    """One TCP port free now (see `free_ports`)."""
    return free_ports(1)[0]


def self_signed_pem(path: Path) -> Path:
    """A self-signed certificate for localhost and its key, in one PEM file (openssl)."""
    key, cert = path.with_suffix(".key"), path.with_suffix(".crt")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-subj", "/CN=localhost", "-days", "1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    path.write_text(cert.read_text() + key.read_text())
    return path


def make_user(berth, statements: list[dict], region: str = REGION):
    """A user with an inline policy of `statements` and an access key (as root); returns its ARN and a
    factory of boto3 clients for it (in `region`, one attempt per call)."""
    iam = berth.client("iam")
    name = unique("authz")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    iam.put_user_policy(
        UserName=name,
        PolicyName="p",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    session = boto3.session.Session(
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=region
    )
    cfg = botocore.config.Config(retries={"total_max_attempts": 1})
    return arn, lambda service: session.client(service, endpoint_url=berth.endpoint, config=cfg)


def denied(call, **kwargs) -> str:
    """Runs `call` expecting AccessDeniedException; returns the message."""
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call(**kwargs)
    e = err.value.response["Error"]
    assert e["Code"] in ("AccessDeniedException", "AccessDenied"), e
    return e["Message"]


def default_subnet(berth: "Berth", zone: str | None = None) -> str:
    """The id of the server's default subnet in `zone` (default: the region's first, `REGIONa`, which
    always has one), as DescribeSubnets shows it: ECS launches must name subnets that EC2 has. An agent's
    zone gets its default subnet when the agent registers."""
    zone = zone or f"{REGION}a"
    filters = [{"Name": "default-for-az", "Values": ["true"]}, {"Name": "availability-zone", "Values": [zone]}]
    subnets = berth.client("ec2").describe_subnets(Filters=filters)["Subnets"]
    assert len(subnets) == 1, f"default subnets in {zone}: {subnets}"
    return subnets[0]["SubnetId"]


def wait_agent_connected(ecs, proc, data_dir: Path, cluster: str, log_tail, what: str = "the agent") -> str:
    """Polls until the `berth agent` running as `proc` (data dir `data_dir`)
    has registered in `cluster` and its instance is ACTIVE and connected;
    its container instance ARN. Fails at once, with the agent's log tail,
    if the agent exits."""

    def connected():
        if proc.poll() is not None:
            raise AssertionError(f"agent exited with {proc.returncode}:\n{log_tail()}")
        try:
            arn = json.loads((data_dir / "agent-state.json").read_text()).get("containerInstanceArn")
        except (OSError, ValueError):
            return None
        if not arn:
            return None
        ci = ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"]
        return arn if ci and ci[0]["agentConnected"] and ci[0]["status"] == "ACTIVE" else None

    return poll(f"{what} to register and connect", connected, 30)
