"""BLUE_GREEN and CANARY service deployments behind a Berth ALB (issue 15
item 4), end to end with real Docker containers and real HTTP: two
`instance` target groups, a production listener rule and a test listener
rule forwarding to both (weights 1/0), a service whose load balancer has
an `advancedConfiguration` naming them, and a client loop through the
listeners:

- blue/green: the new revision (green) scales up in the alternate group,
  the test rule is shifted to it before the production rule, production
  moves in one step (once a green answer is seen, no blue one follows),
  both revisions run during the bake, then blue is gone; the client loop
  sees no error;
- a green whose containers exit at once never gets healthy: the circuit
  breaker rolls it back, and production never answered green;
- canary 10 %: during the canary bake about 10 % (± 5) of the production
  answers come from green, then all of them;
- linear 25 %: about 25 % (± 5) in the first step, then 50, 75, 100 %;
- StopServiceDeployment (ROLLBACK) during the bake, or a deployment alarm
  going into ALARM then, turns production back to blue in one step,
  without an error;
- bad advanced configurations are refused as ECS refuses them, and the
  role needs iam:PassRole.

The server runs with `--time-scale 60` (a bake "minute" is a second).
Target health needs two checks 5 s apart (ALB's shortest interval), so the
file takes about four and a half minutes: thirteen deployments wait for
health checks,
and the canary and linear steps bake long enough to count 300–400 answers.
Every wait is a poll with a deadline.
"""

from __future__ import annotations

import threading

import pytest
import requests
from botocore.exceptions import ClientError
from test_elbv2_services import cluster  # noqa: F401  (a fixture, used by name)
from test_tasks import (  # noqa: F401  (fixtures are used by name)
    GRACE_SECS,
    image,
    poll,
    register,
)

from berthtest import Berth, denied, free_port, make_user, unique

REGION = "us-east-1"
DEADLINE = 90.0
SCALE = 60
ROLE = "arn:aws:iam::000000000000:role/ecsInfrastructureRole"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-bluegreen")
    (tmp / "data").mkdir()
    srv = Berth(
        data_dir=tmp / "data",
        log_path=tmp / "berth.log",
        extra_args=["--agent-grace-period-secs", GRACE_SECS, "--time-scale", str(SCALE)],
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


def web(image: str, version: str, fail: bool = False) -> dict:
    """busybox httpd on 8080 answering `version`; `fail`: exits at once."""
    script = "exit 1" if fail else (
        f"echo {version} > /www/index.html && echo ok > /www/health && exec httpd -f -p 8080 -h /www"
    )
    return {
        "name": "web",
        "image": image,
        "memory": 32,
        "essential": True,
        "command": ["sh", "-c", script],
        "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
        "stopTimeout": 2,
    }


def target_group(elb) -> str:
    tg = elb.create_target_group(
        Name=unique("bg")[:32], Protocol="HTTP", Port=80, TargetType="instance", VpcId="vpc-1",
        HealthCheckPath="/health", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2, UnhealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_target_group_attributes(
        TargetGroupArn=tg, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "2"}]
    )
    return tg


class Setup:
    """An ALB with a production and a test listener, each with a rule
    forwarding to both target groups (blue 1, green 0)."""

    def __init__(self, elb):
        lb = elb.create_load_balancer(Name=unique("bg")[:32])["LoadBalancers"][0]["LoadBalancerArn"]
        self.blue, self.green = target_group(elb), target_group(elb)
        self.prod_port, self.test_port = free_port(), free_port()
        self.rules = []
        for port in (self.prod_port, self.test_port):
            listener = elb.create_listener(
                LoadBalancerArn=lb, Protocol="HTTP", Port=port,
                DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
            )["Listeners"][0]["ListenerArn"]
            rule = elb.create_rule(
                ListenerArn=listener, Priority=1,
                Conditions=[{"Field": "path-pattern", "Values": ["/*"]}],
                Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                    {"TargetGroupArn": self.blue, "Weight": 1}, {"TargetGroupArn": self.green, "Weight": 0},
                ]}}],
            )["Rules"][0]["RuleArn"]
            self.rules.append(rule)
        self.prod_rule, self.test_rule = self.rules

    def load_balancers(self, test: bool = True) -> list:
        advanced = {
            "alternateTargetGroupArn": self.green,
            "productionListenerRule": self.prod_rule,
            "roleArn": ROLE,
        }
        if test:
            advanced["testListenerRule"] = self.test_rule
        return [{
            "targetGroupArn": self.blue, "containerName": "web", "containerPort": 8080,
            "advancedConfiguration": advanced,
        }]


class Client:
    """A client loop through one listener: every answer (or error) in order."""

    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/"
        self.answers: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with requests.Session() as s:
            while not self._stop.is_set():
                try:
                    r = s.get(self.url, timeout=5)
                    if r.status_code == 200:
                        self.answers.append(r.text.strip())
                    else:
                        self.errors.append(f"{r.status_code} {r.text[:80]}")
                except requests.RequestException as e:
                    self.errors.append(repr(e))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)


def service(ecs, cluster: str, name: str) -> dict:
    return ecs.describe_services(cluster=cluster, services=[name])["services"][0]


def running_defs(ecs, cluster: str, name: str) -> list:
    arns = ecs.list_tasks(cluster=cluster, serviceName=name, desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    return sorted(t["taskDefinitionArn"] for t in tasks if t["lastStatus"] == "RUNNING")


def steady_on(ecs, cluster: str, name: str, td: str, count: int) -> dict:
    def done():
        s = service(ecs, cluster, name)
        d = s["deployments"]
        ok = len(d) == 1 and d[0]["taskDefinition"] == td and d[0]["rolloutState"] == "COMPLETED"
        return s if ok and running_defs(ecs, cluster, name) == [td] * count else None

    return poll(f"{name} steady on {td}", done, DEADLINE)


def answers_from(port: int, version: str) -> bool:
    return requests.get(f"http://127.0.0.1:{port}/", timeout=5).text.strip() == version


def primary_deployment(ecs, cluster: str, name: str) -> dict:
    history = ecs.list_service_deployments(cluster=cluster, service=name)["serviceDeployments"]
    arn = history[0]["serviceDeploymentArn"]
    return ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]


def create(server, c, name: str, td: str, setup: Setup, config: dict, count: int = 2):
    ecs = server.client("ecs")
    ecs.create_service(
        cluster=c.name, serviceName=name, taskDefinition=td, desiredCount=count,
        healthCheckGracePeriodSeconds=0, loadBalancers=setup.load_balancers(), deploymentConfiguration=config,
    )
    steady_on(ecs, c.name, name, td, count)
    poll("production answers from the first revision", lambda: answers_from(setup.prod_port, "v1"), DEADLINE)


def test_blue_green_shifts_test_then_production_then_bakes(server, cluster, image):
    c = cluster("bg")
    c.add_agent()
    ecs, elb = server.client("ecs"), server.client("elbv2", region_name=REGION)
    setup = Setup(elb)
    family = unique("bg")
    v1 = register(ecs, family, [web(image, "v1")], networkMode="bridge")
    v2 = register(ecs, family, [web(image, "v2")], networkMode="bridge")
    name = unique("web")
    config = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 8,
              "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    create(server, c, name, v1, setup, config)
    shown = service(ecs, c.name, name)
    assert shown["deploymentConfiguration"]["strategy"] == "BLUE_GREEN"
    assert shown["loadBalancers"][0]["advancedConfiguration"]["alternateTargetGroupArn"] == setup.green

    with Client(setup.prod_port) as prod:
        server.aws("ecs", "update-service", "--cluster", c.name, "--service", name, "--task-definition", v2)

        def baking():
            d = primary_deployment(ecs, c.name, name)
            both = running_defs(ecs, c.name, name) == sorted([v1, v1, v2, v2])
            return d if d.get("lifecycleStage") == "BAKE_TIME" and both else None

        d = poll("the bake with blue and green running", baking, DEADLINE)
        assert d["status"] == "IN_PROGRESS"
        assert answers_from(setup.test_port, "v2")
        assert answers_from(setup.prod_port, "v2")
        steady_on(ecs, c.name, name, v2, 2)
        assert answers_from(setup.prod_port, "v2")
    assert prod.errors == []
    first_green = prod.answers.index("v2")
    assert set(prod.answers[:first_green]) == {"v1"} and set(prod.answers[first_green:]) == {"v2"}, (
        "production moved in one step"
    )
    events = [e["message"] for e in service(ecs, c.name, name)["events"]]
    test_at = next(i for i, m in enumerate(events) if "test traffic shifted" in m)
    prod_at = next(i for i, m in enumerate(events) if "production traffic shifted: 100.0%" in m)
    assert test_at > prod_at, "the test rule shifted first (events are newest first)"
    weights = elb.describe_rules(RuleArns=[setup.prod_rule])["Rules"][0]["Actions"][0]["ForwardConfig"]
    assert {t["TargetGroupArn"]: t["Weight"] for t in weights["TargetGroups"]} == {setup.blue: 0, setup.green: 1}
    assert primary_deployment(ecs, c.name, name)["status"] == "SUCCESSFUL"
    ecs.delete_service(cluster=c.name, service=name, force=True)


def test_a_failing_green_rolls_back_and_production_never_serves_it(server, cluster, image):
    c = cluster("bgfail")
    c.add_agent()
    ecs, elb = server.client("ecs"), server.client("elbv2", region_name=REGION)
    setup = Setup(elb)
    family = unique("bgfail")
    v1 = register(ecs, family, [web(image, "v1")], networkMode="bridge")
    bad = register(ecs, family, [web(image, "v2", fail=True)], networkMode="bridge")
    name = unique("web")
    config = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
              "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    create(server, c, name, v1, setup, config)
    with Client(setup.prod_port) as prod:
        ecs.update_service(cluster=c.name, service=name, taskDefinition=bad)

        def rolled_back():
            s = service(ecs, c.name, name)
            d = s["deployments"]
            return s if s["taskDefinition"] == v1 and len(d) == 1 and d[0]["rolloutState"] == "COMPLETED" else None

        poll("the rollback to the blue revision", rolled_back, DEADLINE)
    assert prod.answers and set(prod.answers) == {"v1"}, "production never served green"
    assert prod.errors == []
    history = ecs.list_service_deployments(cluster=c.name, service=name)["serviceDeployments"]
    assert history[0]["status"] == "ROLLBACK_SUCCESSFUL"
    ecs.delete_service(cluster=c.name, service=name, force=True)


def test_canary_sends_its_share_to_green_during_the_canary_bake(server, cluster, image):
    c = cluster("canary")
    c.add_agent()
    ecs, elb = server.client("ecs"), server.client("elbv2", region_name=REGION)
    setup = Setup(elb)
    family = unique("canary")
    v1 = register(ecs, family, [web(image, "v1")], networkMode="bridge")
    v2 = register(ecs, family, [web(image, "v2")], networkMode="bridge")
    name = unique("web")
    config = {"strategy": "CANARY", "bakeTimeInMinutes": 0,
              "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 40}}
    create(server, c, name, v1, setup, config)
    updated = ecs.update_service(cluster=c.name, service=name, taskDefinition=v2)["service"]
    green = next(d["id"] for d in updated["deployments"] if d["status"] == "PRIMARY")

    def canary():
        s = service(ecs, c.name, name)
        shifted = f"(deployment {green}) production traffic shifted: 10.0% to target group {setup.green}."
        return any(shifted in e["message"] for e in s["events"])

    poll("the canary shift", canary, DEADLINE)
    url = f"http://127.0.0.1:{setup.prod_port}/"
    with requests.Session() as s:
        answers = [s.get(url, timeout=5).text.strip() for _ in range(400)]
    still = primary_deployment(ecs, c.name, name)
    assert still["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT", "all 400 answers came during the canary bake"
    share = answers.count("v2") / len(answers)
    assert set(answers) <= {"v1", "v2"}
    assert 0.05 <= share <= 0.15, f"green's share during the canary: {share:.3f}"
    steady_on(ecs, c.name, name, v2, 2)
    assert answers_from(setup.prod_port, "v2")
    ecs.delete_service(cluster=c.name, service=name, force=True)


def test_bad_advanced_configurations_are_refused(server, cluster, image):
    c = cluster("bgbad")
    ecs, elb = server.client("ecs"), server.client("elbv2", region_name=REGION)
    setup = Setup(elb)
    td = register(ecs, unique("bgbad"), [web(image, "v1")], networkMode="bridge")
    name = unique("web")
    other = target_group(elb)
    lbs = setup.load_balancers()
    cases = [
        ({"strategy": "BLUE_GREEN"}, lbs, "bakeTimeInMinutes is required"),
        ({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1}, [{**lbs[0], "advancedConfiguration": None}],
         "needs one load balancer with an advancedConfiguration"),
        ({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1},
         [{**lbs[0], "advancedConfiguration": {**lbs[0]["advancedConfiguration"], "alternateTargetGroupArn": other}}],
         "an associated load balancer"),
        ({"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 0.05}}, lbs, "canaryPercent"),
        ({"strategy": "ROLLING"}, lbs, "advancedConfiguration applies to"),
        ({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
          "lifecycleHooks": [{"targetType": "AWS_LAMBDA", "lifecycleStages": ["POST_SCALE_UP"]}]}, lbs, "no Lambda"),
    ]
    for config, given, says in cases:
        given = [{k: v for k, v in g.items() if v is not None} for g in given]
        with pytest.raises(ClientError) as e:
            ecs.create_service(
                cluster=c.name, serviceName=name, taskDefinition=td, desiredCount=1,
                loadBalancers=given, deploymentConfiguration=config,
            )
        assert e.value.response["Error"]["Code"] == "InvalidParameterException", config
        assert says in e.value.response["Error"]["Message"], (config, e.value.response["Error"]["Message"])
    assert ecs.describe_services(cluster=c.name, services=[name])["failures"][0]["reason"] == "MISSING"


def test_the_advanced_configuration_role_needs_pass_role(server, cluster, image):
    c = cluster("bgrole")
    ecs, elb = server.client("ecs"), server.client("elbv2", region_name=REGION)
    setup = Setup(elb)
    td = register(ecs, unique("bgrole"), [web(image, "v1")], networkMode="bridge")
    _, client = make_user(server, [{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}])
    message = denied(
        client("ecs").create_service,
        cluster=c.name, serviceName=unique("web"), taskDefinition=td, desiredCount=1,
        loadBalancers=setup.load_balancers(),
        deploymentConfiguration={"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1},
    )
    assert "iam:PassRole" in message and ROLE in message


def shift_event(green_id: str, share: str, tg: str) -> str:
    return f"(deployment {green_id}) production traffic shifted: {share}% to target group {tg}."


def test_linear_shifts_in_steps_of_25_percent(server, cluster, image):
    c = cluster("linear")
    c.add_agent()
    ecs, elb = server.client("ecs"), server.client("elbv2", region_name=REGION)
    setup = Setup(elb)
    family = unique("linear")
    v1 = register(ecs, family, [web(image, "v1")], networkMode="bridge")
    v2 = register(ecs, family, [web(image, "v2")], networkMode="bridge")
    name = unique("web")
    config = {"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 12}}
    create(server, c, name, v1, setup, config)
    updated = ecs.update_service(cluster=c.name, service=name, taskDefinition=v2)["service"]
    green = next(d["id"] for d in updated["deployments"] if d["status"] == "PRIMARY")

    def first_step():
        return any(shift_event(green, "25.0", setup.green) in e["message"] for e in service(ecs, c.name, name)["events"])

    poll("the first linear step", first_step, DEADLINE)
    url = f"http://127.0.0.1:{setup.prod_port}/"
    with requests.Session() as s:
        answers = [s.get(url, timeout=5).text.strip() for _ in range(300)]
    events = [e["message"] for e in service(ecs, c.name, name)["events"]]
    assert not any(shift_event(green, "50.0", setup.green) in m for m in events), "all answers came in the first step"
    share = answers.count("v2") / len(answers)
    assert 0.20 <= share <= 0.30, f"green's share in the first step: {share:.3f}"
    steady_on(ecs, c.name, name, v2, 2)
    events = [e["message"] for e in reversed(service(ecs, c.name, name)["events"])]
    steps = [p for m in events for p in ("25.0", "50.0", "75.0", "100.0") if shift_event(green, p, setup.green) in m]
    assert steps == ["25.0", "50.0", "75.0", "100.0"]
    ecs.delete_service(cluster=c.name, service=name, force=True)


def test_stop_service_deployment_during_the_bake_turns_production_back_to_blue(server, cluster, image):
    c = cluster("bgstop")
    c.add_agent()
    ecs, elb = server.client("ecs"), server.client("elbv2", region_name=REGION)
    setup = Setup(elb)
    family = unique("bgstop")
    v1 = register(ecs, family, [web(image, "v1")], networkMode="bridge")
    v2 = register(ecs, family, [web(image, "v2")], networkMode="bridge")
    name = unique("web")
    create(server, c, name, v1, setup, {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 60})
    ecs.update_service(cluster=c.name, service=name, taskDefinition=v2)

    def baking():
        d = primary_deployment(ecs, c.name, name)
        return d if d.get("lifecycleStage") == "BAKE_TIME" else None

    d = poll("the bake", baking, DEADLINE)
    assert answers_from(setup.prod_port, "v2")
    with Client(setup.prod_port) as prod:
        poll("a production answer from green", lambda: "v2" in prod.answers, DEADLINE)
        ecs.stop_service_deployment(serviceDeploymentArn=d["serviceDeploymentArn"], stopType="ROLLBACK")
        steady_on(ecs, c.name, name, v1, 2)
        assert answers_from(setup.prod_port, "v1")
    assert prod.errors == []
    back = prod.answers.index("v1")
    assert set(prod.answers[:back]) == {"v2"} and set(prod.answers[back:]) == {"v1"}, "back to blue in one step"
    history = ecs.list_service_deployments(cluster=c.name, service=name)["serviceDeployments"]
    assert history[0]["status"] == "ROLLBACK_SUCCESSFUL"
    ecs.delete_service(cluster=c.name, service=name, force=True)


def test_an_alarm_during_the_bake_rolls_back_to_blue(server, cluster, image):
    c = cluster("bgalarm")
    c.add_agent()
    ecs, elb, cw = server.client("ecs"), server.client("elbv2", region_name=REGION), server.client("cloudwatch")
    setup = Setup(elb)
    namespace = unique("App")
    alarm = unique("bg-alarm")
    cw.put_metric_alarm(
        AlarmName=alarm, Namespace=namespace, MetricName="Errors", Statistic="Maximum", Period=60,
        EvaluationPeriods=5, DatapointsToAlarm=1, Threshold=10.0, ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    family = unique("bgalarm")
    v1 = register(ecs, family, [web(image, "v1")], networkMode="bridge")
    v2 = register(ecs, family, [web(image, "v2")], networkMode="bridge")
    name = unique("web")
    config = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 60,
              "alarms": {"alarmNames": [alarm], "enable": True, "rollback": True}}
    create(server, c, name, v1, setup, config)
    ecs.update_service(cluster=c.name, service=name, taskDefinition=v2)

    def baking():
        d = primary_deployment(ecs, c.name, name)
        return d if d.get("lifecycleStage") == "BAKE_TIME" else None

    poll("the bake", baking, DEADLINE)
    with Client(setup.prod_port) as prod:
        poll("a production answer from green", lambda: "v2" in prod.answers, DEADLINE)
        cw.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "Errors", "Value": 50.0}])
        steady_on(ecs, c.name, name, v1, 2)
    assert prod.errors == []
    back = prod.answers.index("v1")
    assert set(prod.answers[back:]) == {"v1"}, "back to blue in one step"
    history = ecs.list_service_deployments(cluster=c.name, service=name)["serviceDeployments"]
    assert history[0]["status"] == "ROLLBACK_SUCCESSFUL"
    sd = ecs.describe_service_deployments(serviceDeploymentArns=[history[0]["serviceDeploymentArn"]])
    assert sd["serviceDeployments"][0]["alarms"]["status"] == "TRIGGERED"
    ecs.delete_service(cluster=c.name, service=name, force=True)
