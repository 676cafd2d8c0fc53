"""Traffic through a Berth load balancer, with
boto3, the aws CLI and real HTTP: two small HTTP backends (python
http.server processes on ephemeral ports) registered as `instance` targets
(on `berth up` an instance is this host, 127.0.0.1) and as an `ip` target;
requests through the listener reach both; DescribeTargetHealth goes initial
→ healthy; a backend whose health path starts failing turns unhealthy with
Target.ResponseCodeMismatch within interval × threshold and leaves
rotation; path and host rules, fixed-response and redirect answers;
deregistration drains, then the target is gone; the metrics on /metrics;
a listener port already in use is refused and nothing is stored; a
Network Load Balancer's TCP listener forwards the bytes. The server runs
with the load balancers' busy polling off (`--lb-busy-poll-us 0`) and
their worker threads on the kernel's CPU slice (`--lb-slice-us 0`; the
other ELBv2 files run with the defaults, 30 µs and 100 µs), so all of it
holds for a worker that sleeps at once on a plain thread too; a worker
thread asks Linux for the slice given; a budget over the 1000 µs allowed
and a slice Linux does not grant are refused at start."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import botocore.exceptions
import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

import berthtest
from berthtest import free_port, poll, unique

REGION = "us-east-1"

BACKEND = r"""
import http.server, sys
name, state = sys.argv[1], {"health": 200}
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/fail":
            state["health"] = 500
            code, body = 200, "failing"
        elif self.path == "/health":
            code, body = state["health"], "health"
        else:
            code, body = 200, name
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.fixture(scope="module")
def lb(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-elbv2-traffic")
    data_dir = tmp / "data"
    data_dir.mkdir()
    server = berthtest.Berth(
        data_dir=data_dir, log_path=tmp / "berth.log", extra_args=["--lb-busy-poll-us", "0", "--lb-slice-us", "0"]
    ).start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            assert server.stop() == 0, server.log_tail()


@pytest.fixture
def backends():
    procs, ports = [], {}
    try:
        for name in ("one", "two"):
            proc = subprocess.Popen([sys.executable, "-c", BACKEND, name], stdout=subprocess.PIPE, text=True)
            procs.append(proc)
            ports[name] = int(proc.stdout.readline())
        yield ports
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()




def health(elb, tg_arn: str) -> dict:
    described = elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    return {(d["Target"]["Id"], d["Target"]["Port"]): d for d in described}


def answers(url: str, n: int, **kwargs) -> set[str]:
    return {requests.get(url, timeout=5, **kwargs).text for _ in range(n)}


def test_traffic_health_rules_and_draining(lb, backends):
    elb = lb.client("elbv2", region_name=REGION)
    one, two = backends["one"], backends["two"]
    lb_arn = elb.create_load_balancer(Name=unique("traffic")[:32])["LoadBalancers"][0]["LoadBalancerArn"]
    check = dict(
        HealthCheckPath="/health", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2, UnhealthyThresholdCount=2,
    )
    web = elb.create_target_group(
        Name=unique("web")[:32], Protocol="HTTP", Port=80, TargetType="instance", VpcId="vpc-1", **check
    )["TargetGroups"][0]["TargetGroupArn"]
    api = elb.create_target_group(
        Name=unique("api")[:32], Protocol="HTTP", Port=80, TargetType="ip", VpcId="vpc-1", **check
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_target_group_attributes(
        TargetGroupArn=web, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}]
    )
    elb.register_targets(TargetGroupArn=web, Targets=[{"Id": "i-berth", "Port": one}, {"Id": "i-berth", "Port": two}])
    elb.register_targets(TargetGroupArn=api, Targets=[{"Id": "127.0.0.1", "Port": two}])
    port = free_port()
    listener = elb.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": web}],
    )["Listeners"][0]["ListenerArn"]
    elb.create_rule(
        ListenerArn=listener, Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": api}],
    )
    elb.create_rule(
        ListenerArn=listener, Priority=20,
        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["fixed.example"]}}],
        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {
            "StatusCode": "418", "ContentType": "text/plain", "MessageBody": "short and stout"}}],
    )
    elb.create_rule(
        ListenerArn=listener, Priority=30,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/old"]}}],
        Actions=[{"Type": "redirect", "RedirectConfig": {
            "Protocol": "HTTPS", "Port": "443", "Host": "example.com", "Path": "/new", "StatusCode": "HTTP_301"}}],
    )
    assert elb.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"][0]["State"]["Code"] == "active"

    # Registered: initial, then healthy after two passing checks.
    first = health(elb, web)
    assert set(first) == {("i-berth", one), ("i-berth", two)}
    for d in first.values():
        assert d["TargetHealth"]["State"] == "initial"
        assert d["TargetHealth"]["Reason"] in ("Elb.RegistrationInProgress", "Elb.InitialHealthChecking")
        assert d["HealthCheckPort"] == str(d["Target"]["Port"])
    poll("both targets healthy", lambda: all(
        d["TargetHealth"] == {"State": "healthy"} for d in health(elb, web).values()) and len(health(elb, web)) == 2,
        deadline=30)
    cli = lb.aws("--region", REGION, "elbv2", "describe-target-health", "--target-group-arn", web,
                 "--targets", f"Id=i-berth,Port={one}", "Id=i-other,Port=81")
    described = cli["TargetHealthDescriptions"]
    assert described[0]["TargetHealth"]["State"] == "healthy"
    assert described[1]["TargetHealth"] == {
        "State": "unused", "Reason": "Target.NotRegistered",
        "Description": "Target is not registered to the target group",
    }

    url = f"http://127.0.0.1:{port}"
    assert answers(url + "/", 10) == {"one", "two"}
    # Rules: a path to the ip group, a host to a fixed answer, a redirect.
    poll("the api group healthy", lambda: health(elb, api)[("127.0.0.1", two)]["TargetHealth"]["State"] == "healthy",
         deadline=30)
    assert answers(url + "/api/x", 6) == {"two"}
    fixed = requests.get(url + "/", headers={"Host": "fixed.example"}, timeout=5)
    assert (fixed.status_code, fixed.text, fixed.headers["Content-Type"]) == (418, "short and stout", "text/plain")
    moved = requests.get(url + "/old?q=1", allow_redirects=False, timeout=5)
    assert moved.status_code == 301
    assert moved.headers["Location"] == "https://example.com:443/new?q=1"

    # Backend one's health path fails: unhealthy within interval × threshold, out of rotation.
    requests.get(f"http://127.0.0.1:{one}/fail", timeout=5)
    failed_at = time.monotonic()
    bad = poll("backend one unhealthy", lambda: (
        lambda d: d if d["TargetHealth"]["State"] == "unhealthy" else None)(health(elb, web)[("i-berth", one)]),
        deadline=30)
    assert time.monotonic() - failed_at <= 5 * 2 + 2 * 2 + 1
    assert bad["TargetHealth"] == {
        "State": "unhealthy", "Reason": "Target.ResponseCodeMismatch",
        "Description": "Health checks failed with these codes: [500]",
    }
    assert answers(url + "/", 10) == {"two"}

    # Deregistered: draining for the delay, then gone.
    elb.deregister_targets(TargetGroupArn=web, Targets=[{"Id": "i-berth", "Port": one}])
    draining = health(elb, web)[("i-berth", one)]["TargetHealth"]
    assert draining == {
        "State": "draining", "Reason": "Target.DeregistrationInProgress",
        "Description": "Target deregistration is in progress",
    }
    poll("the drained target gone", lambda: ("i-berth", one) not in health(elb, web), deadline=30)
    assert answers(url + "/", 6) == {"two"}

    metrics = requests.get(lb.endpoint + "/metrics", timeout=5).text
    dimension = lb_arn.split(":loadbalancer/")[1]
    assert f'berth_elb_requests_total{{region="{REGION}",load_balancer="{dimension}"}}' in metrics
    assert "berth_elb_target_group_healthy_hosts{" in metrics
    # Both formats parse, each family once.
    samples = {s.name for f in text_string_to_metric_families(metrics) for s in f.samples}
    assert {"berth_elb_requests_total", "berth_elb_target_group_unhealthy_hosts"} <= samples
    openmetrics = requests.get(
        lb.endpoint + "/metrics", headers={"Accept": "application/openmetrics-text"}, timeout=5
    ).text
    families = [f.name for f in openmetrics_families(openmetrics)]
    assert "berth_elb_requests" in families and len(families) == len(set(families))

    elb.delete_load_balancer(LoadBalancerArn=lb_arn)
    # The listener goes with its load balancer: nothing listens on its port.
    poll("the listener closed", lambda: not _listening(port), deadline=10)
    elb.delete_target_group(TargetGroupArn=web)
    elb.delete_target_group(TargetGroupArn=api)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except ConnectionRefusedError:
        return False


def test_a_listener_port_already_in_use_is_refused(lb):
    elb = lb.client("elbv2", region_name=REGION)
    lb_arn = elb.create_load_balancer(Name=unique("taken")[:32])["LoadBalancers"][0]["LoadBalancerArn"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(botocore.exceptions.ClientError) as e:
            elb.create_listener(
                LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port,
                DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}],
            )
        err = e.value.response["Error"]
        assert err["Code"] == "InvalidConfigurationRequest"
        assert err["Message"].startswith(f"The listener on port {port} cannot be served: cannot bind 127.0.0.1:{port}")
        assert elb.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"] == []
        assert elb.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"][0]["State"]["Code"] == "active"
    elb.delete_load_balancer(LoadBalancerArn=lb_arn)


def test_a_network_load_balancer_forwards_tcp(lb, backends):
    elb = lb.client("elbv2", region_name=REGION)
    lb_arn = elb.create_load_balancer(Name=unique("nlb")[:32], Type="network")["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(
        Name=unique("tcp")[:32], Protocol="TCP", Port=80, TargetType="ip", VpcId="vpc-1",
        HealthCheckProtocol="TCP", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": backends["one"]}])
    port = free_port()
    elb.create_listener(
        LoadBalancerArn=lb_arn, Protocol="TCP", Port=port, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}]
    )
    # A TCP check passes on connect.
    poll("the target healthy", lambda: health(elb, tg)[("127.0.0.1", backends["one"])]["TargetHealth"]["State"]
         == "healthy", deadline=30)
    assert answers(f"http://127.0.0.1:{port}/", 3) == {"one"}
    elb.delete_load_balancer(LoadBalancerArn=lb_arn)
    elb.delete_target_group(TargetGroupArn=tg)


@pytest.mark.parametrize("flag, value, says", [
    ("--lb-busy-poll-us", "5000", "0..=1000"),
    ("--lb-slice-us", "50", "give 0 (the kernel's slice) or 100 to 100000"),
])
def test_a_tuning_value_out_of_range_is_refused_at_start(tmp_path, flag, value, says):
    out = subprocess.run(
        [berthtest.berth_bin(), "up", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path), flag, value],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2, out
    assert flag in out.stderr and says in out.stderr, out.stderr
    assert not any(tmp_path.iterdir()), "nothing was written"


def lb_thread_slices(pid: int) -> dict[str, int]:
    """The CPU slice (ns, `se.slice` in /proc) of each load balancer worker thread of `pid`."""
    slices = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        name = (task / "comm").read_text().strip()
        if name.startswith("berth-lb-"):
            found = re.search(r"^se\.slice\s*:\s*(\d+)$", (task / "sched").read_text(), re.M)
            if found is None:
                pytest.skip("this kernel does not report threads' slices (Linux 6.6 and later do)")
            slices[name] = int(found.group(1))
    return slices


def serve_one_fixed_answer(server) -> None:
    """A listener answering 204 itself, asked once: the worker threads start at the first connection."""
    elb = server.client("elbv2", region_name=REGION)
    lb_arn = elb.create_load_balancer(Name=unique("slice")[:32])["LoadBalancers"][0]["LoadBalancerArn"]
    port = free_port()
    elb.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "204"}}],
    )
    poll("the listener answering", lambda: _listening(port), deadline=30)
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 204


def test_worker_threads_ask_for_the_slice_given(tmp_path):
    if tuple(int(x) for x in re.findall(r"\d+", Path("/proc/sys/kernel/osrelease").read_text())[:2]) < (6, 12):
        pytest.skip("threads choose their slice from Linux 6.12")
    (tmp_path / "data").mkdir()
    server = berthtest.Berth(
        data_dir=tmp_path / "data", log_path=tmp_path / "berth.log", extra_args=["--lb-slice-us", "250"]
    ).start()
    try:
        serve_one_fixed_answer(server)
        slices = lb_thread_slices(server.proc.pid)
        assert slices and set(slices.values()) == {250_000}, slices
    finally:
        assert server.stop() == 0, server.log_tail()


def test_slice_off_leaves_the_kernels(lb):
    serve_one_fixed_answer(lb)
    slices = lb_thread_slices(lb.proc.pid)
    # The kernel's default: 0.7 ms × (1 + log2 CPUs), unless an operator tuned it.
    assert slices and all(ns >= 700_000 for ns in slices.values()), slices
