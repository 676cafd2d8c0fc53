"""ECS deployment alarms (issue 16 item 5), end to end: a REPLICA service on
a real `berth agent` with `deploymentConfiguration.alarms` naming a
CloudWatch alarm on a metric the test feeds with PutMetricData.

- a new revision is deployed; while it is watched (its bake after the
  steady state) the test pushes the metric over the threshold: the alarm
  goes to ALARM, the deployment FAILS and is rolled back, the old task
  definition serves again, and DescribeServiceDeployments shows the
  alarms TRIGGERED and the rollback;
- with no alarm, the steady deployment completes only after its bake (the
  alarm's period × evaluation periods) with the alarms MONITORING_COMPLETE;
- bad `alarms` are refused with InvalidParameterException, nothing stored.

The server runs with `--time-scale 60`: an alarm "minute" (its periods,
the evaluator's tick, the bake computed from them) lasts one second.
Every wait polls the API for a condition with a deadline.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from test_tasks import (  # noqa: F401  (fixtures are used by name)
    GRACE_SECS,
    cluster,
    image,
    poll,
    register,
    sleeper,
)

from berthtest import Berth, unique

SCALE = 60
DEADLINE = 60.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-deploy-alarms")
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


def service(ecs, cluster_name: str, name: str) -> dict:
    return ecs.describe_services(cluster=cluster_name, services=[name])["services"][0]


def steady_on(ecs, cluster_name: str, name: str, td: str, count: int) -> dict:
    def done():
        s = service(ecs, cluster_name, name)
        d = s["deployments"]
        ok = (
            s["runningCount"] == count
            and len(d) == 1
            and d[0]["taskDefinition"] == td
            and d[0]["rolloutState"] == "COMPLETED"
        )
        return s if ok else None

    return poll(f"service {name} steady on {td}", done, DEADLINE)


def running_task_defs(ecs, cluster_name: str, name: str) -> set:
    arns = ecs.list_tasks(cluster=cluster_name, serviceName=name, desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return set()
    return {t["taskDefinitionArn"] for t in ecs.describe_tasks(cluster=cluster_name, tasks=arns)["tasks"]}


def alarm(cw, namespace: str, evaluation_periods: int) -> str:
    """An alarm on namespace/Errors > 10 (1 of N datapoints, periods of one scaled minute)."""
    name = unique("deploy-alarm")
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=namespace,
        MetricName="Errors",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=evaluation_periods,
        DatapointsToAlarm=1,
        Threshold=10.0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    return name


def test_an_alarm_fails_the_deployment_and_rolls_it_back(server, cluster, image):
    c = cluster("dep-alarm")
    c.add_agent()
    ecs, cw = server.client("ecs"), server.client("cloudwatch")
    namespace = unique("App")
    # 60 periods of a (scaled) minute: the new revision is watched for 60 s
    # after it is steady — time enough to push the metric.
    watched = alarm(cw, namespace, 60)
    family = unique("dep-alarm")
    good = register(ecs, family, [sleeper("app", image)])
    name = unique("web")
    ecs.create_service(cluster=c.name, serviceName=name, taskDefinition=good, desiredCount=2)
    first = steady_on(ecs, c.name, name, good, 2)["deployments"][0]["id"]

    bad = register(ecs, family, [sleeper("app", image, memory=48)])
    server.aws(
        "ecs", "update-service", "--cluster", c.name, "--service", name, "--task-definition", bad,
        "--deployment-configuration",
        f"alarms={{alarmNames=[{watched}],enable=true,rollback=true}}",
    )

    def new_tasks_running():
        s = service(ecs, c.name, name)
        p = next(d for d in s["deployments"] if d["status"] == "PRIMARY")
        return p if p["taskDefinition"] == bad and p["runningCount"] == 2 else None

    primary = poll("the new revision's tasks running", new_tasks_running, DEADLINE)
    assert primary["rolloutState"] == "IN_PROGRESS"
    history = ecs.list_service_deployments(cluster=c.name, service=name)["serviceDeployments"]
    sd = ecs.describe_service_deployments(serviceDeploymentArns=[history[0]["serviceDeploymentArn"]])
    sd = sd["serviceDeployments"][0]
    assert sd["alarms"] == {"status": "MONITORING", "alarmNames": [watched], "triggeredAlarmNames": []}

    # The application's errors go over the threshold.
    cw.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "Errors", "Value": 50.0}])

    def rolled_back():
        s = service(ecs, c.name, name)
        d = s["deployments"]
        ok = s["taskDefinition"] == good and len(d) == 1 and d[0]["rolloutState"] == "COMPLETED"
        return s if ok and s["runningCount"] == 2 and running_task_defs(ecs, c.name, name) == {good} else None

    s = poll("the rollback to the good revision", rolled_back, DEADLINE)
    state = cw.describe_alarms(AlarmNames=[watched])["MetricAlarms"][0]["StateValue"]
    assert state == "ALARM"
    failed_event = f"(service {name}) (deployment {primary['id']}) deployment failed: alarm(s) detected: {watched}."
    messages = [e["message"] for e in s["events"]]
    assert failed_event in messages
    assert any(m.startswith(f"(service {name}) rolling back to deployment {first}") for m in messages)

    history = ecs.list_service_deployments(cluster=c.name, service=name)["serviceDeployments"]
    assert history[0]["status"] == "ROLLBACK_SUCCESSFUL"
    sd = ecs.describe_service_deployments(serviceDeploymentArns=[history[0]["serviceDeploymentArn"]])
    sd = sd["serviceDeployments"][0]
    assert sd["alarms"] == {"status": "TRIGGERED", "alarmNames": [watched], "triggeredAlarmNames": [watched]}
    assert watched in sd["rollback"]["reason"] and "ALARM" in sd["rollback"]["reason"]
    assert sd["rollback"]["serviceRevisionArn"].endswith(first.split("/")[1])
    assert sd["deploymentConfiguration"]["alarms"] == {"alarmNames": [watched], "enable": True, "rollback": True}
    ecs.delete_service(cluster=c.name, service=name, force=True)


def test_a_quiet_deployment_completes_after_its_bake(server, cluster, image):
    c = cluster("dep-bake")
    c.add_agent()
    ecs, cw = server.client("ecs"), server.client("cloudwatch")
    # 5 periods of a scaled minute: a bake of 5 s.
    watched = alarm(cw, unique("App"), 5)
    family = unique("dep-bake")
    td = register(ecs, family, [sleeper("app", image)])
    name = unique("web")
    ecs.create_service(
        cluster=c.name,
        serviceName=name,
        taskDefinition=td,
        desiredCount=1,
        deploymentConfiguration={"alarms": {"alarmNames": [watched], "enable": True, "rollback": False}},
    )
    s = steady_on(ecs, c.name, name, td, 1)
    events = {e["message"]: e["createdAt"] for e in s["events"]}
    started = next(at for m, at in events.items() if "has started 1 tasks" in m)
    completed = next(at for m, at in events.items() if m.endswith("deployment completed."))
    assert (completed - started).total_seconds() >= 5 - 0.5, (started, completed)
    history = ecs.list_service_deployments(cluster=c.name, service=name)["serviceDeployments"]
    sd = ecs.describe_service_deployments(serviceDeploymentArns=[history[0]["serviceDeploymentArn"]])
    sd = sd["serviceDeployments"][0]
    assert sd["status"] == "SUCCESSFUL"
    assert sd["alarms"]["status"] == "MONITORING_COMPLETE"
    ecs.delete_service(cluster=c.name, service=name, force=True)


def test_bad_alarms_are_refused(server, cluster, image):
    c = cluster("dep-bad")
    ecs = server.client("ecs")
    td = register(ecs, unique("dep-bad"), [sleeper("app", image)])
    name = unique("web")
    for alarms, says in [
        ({"alarmNames": [], "enable": True, "rollback": True}, "at least one CloudWatch alarm"),
        ({"alarmNames": [""], "enable": True, "rollback": True}, "1 to 255 characters"),
    ]:
        with pytest.raises(ClientError) as e:
            ecs.create_service(
                cluster=c.name,
                serviceName=name,
                taskDefinition=td,
                desiredCount=1,
                deploymentConfiguration={"alarms": alarms},
            )
        assert e.value.response["Error"]["Code"] == "InvalidParameterException"
        assert says in e.value.response["Error"]["Message"]
    assert ecs.describe_services(cluster=c.name, services=[name])["failures"][0]["reason"] == "MISSING"
