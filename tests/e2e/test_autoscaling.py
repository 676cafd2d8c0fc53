"""Application Auto Scaling (issue 16 item 4) end to end: boto3 and the aws
CLI against a Berth server, real Docker containers run by a `berth agent`.

The server counts AWS minutes thirty times faster (`--time-scale 30`: an
alarm period of 60 s lasts 2 s, a 60 s cooldown 2 s, `rate(1 minute)` 2 s)
and publishes the `AWS/ECS` metrics every second; the agent reports its
tasks' Docker stats every second. So target tracking's AlarmHigh (3 of 3
periods) fires after about 6 s of load and AlarmLow (15 of 15) after about
30 s of quiet.

- target tracking on CPU at 50 %: the tasks reserve 16 CPU units and spin a
  few per cent of a core (a duty-cycled shell loop, light on the host but
  far above 50 % of what they reserve), so desiredCount goes 1 → 3 (max);
  then the service is updated to a task definition that sleeps (the honest
  way to stop the load: it is what a user would do; scale-in also waits for
  that deployment to finish), and after AlarmLow's window and the cooldown
  it scales in to 1 (min). DescribeScalingActivities shows
  each change with its cause (`monitor alarm TargetTracking-…-AlarmHigh-…
  in state ALARM triggered policy …`);
- target tracking on metric math (backlog per worker): CloudWatch evaluates
  the expression over published metrics and desiredCount follows;
- a step-scaling policy run by SetAlarmState on its alarm changes
  desiredCount by the step the breach falls in;
- a scheduled action `at(…)` sets min and max, and desiredCount follows;
- bad input as AWS answers it; the targets survive a restart;
- IAM: a user is authorized on the scalable target's ARN, its tags and the
  `application-autoscaling:service-namespace` condition key.

Wall time: about 75–90 s (80 s measured), most of it AlarmLow's 15 scaled minutes and the
tasks starting; every wait is a poll with a deadline.
"""

from __future__ import annotations

import datetime
import json

import pytest
from botocore.exceptions import ClientError

from test_tasks import (  # noqa: F401  (fixtures are used by name)
    Agent,
    cluster,
    image,
    register,
)

from berthtest import REGION, AwsCliError, Berth, denied, make_user, poll, unique

TIME_SCALE = 30
DIMENSION = "ecs:service:DesiredCount"
AGENT_CPU = 256
AGENT_MEMORY = 512
TASK_CPU = 16
TASK_MEMORY = 24
# A few per cent of a core, then a pause: well above 50 % of 16 units.
SPIN = "while :; do i=0; while [ $i -lt 40000 ]; do i=$((i+1)); done; sleep 1; done"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-autoscaling")
    (tmp / "data").mkdir()
    srv = Berth(
        data_dir=tmp / "data",
        log_path=tmp / "berth.log",
        extra_args=["--time-scale", TIME_SCALE, "--ecs-metrics-interval-secs", 1],
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


def desired(ecs, cluster_name: str, service: str) -> int:
    return ecs.describe_services(cluster=cluster_name, services=[service])["services"][0]["desiredCount"]


def running_count(ecs, cluster_name: str, service: str) -> int:
    return ecs.describe_services(cluster=cluster_name, services=[service])["services"][0]["runningCount"]


def code_of(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    err = e.value.response["Error"]
    return err["Code"], err["Message"]


def activities(aas, resource_id: str) -> list:
    return aas.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=resource_id)["ScalingActivities"]


@pytest.fixture
def agent_cluster(server, cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("BERTH_AGENT_USAGE_INTERVAL_SECS", "1")
    c = cluster("aas")
    agent = Agent(server, c.name, tmp_path, f"{REGION}a", cpu=AGENT_CPU, memory=AGENT_MEMORY)
    c.agents.append(agent)
    agent.wait_connected(server.client("ecs"))
    return c


def test_target_tracking_scales_out_on_cpu_then_in_when_it_stops(server, agent_cluster, image):
    ecs = server.client("ecs")
    aas = server.client("application-autoscaling")
    cw = server.client("cloudwatch")
    c = agent_cluster.name
    spin_td = register(ecs, unique("spin"), [{
        "name": "spin", "image": image, "cpu": TASK_CPU, "memory": TASK_MEMORY, "essential": True,
        "command": ["sh", "-c", SPIN],
    }])
    quiet_td = register(ecs, unique("quiet"), [{
        "name": "spin", "image": image, "cpu": TASK_CPU, "memory": TASK_MEMORY, "essential": True,
        "command": ["sleep", "100000"],
    }])
    svc = unique("web")
    ecs.create_service(cluster=c, serviceName=svc, taskDefinition=spin_td, desiredCount=1)
    resource_id = f"service/{c}/{svc}"

    # Registered with the aws CLI; described with boto3.
    out = server.aws("application-autoscaling", "register-scalable-target", "--service-namespace", "ecs",
                     "--resource-id", resource_id, "--scalable-dimension", DIMENSION,
                     "--min-capacity", "1", "--max-capacity", "3")
    assert out["ScalableTargetARN"].startswith(
        f"arn:aws:application-autoscaling:{REGION}:000000000000:scalable-target/"), out
    target = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource_id])["ScalableTargets"][0]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 3)
    assert target["RoleARN"].endswith(
        ":role/aws-service-role/ecs.application-autoscaling.amazonaws.com/"
        "AWSServiceRoleForApplicationAutoScaling_ECSService"), target

    policy = aas.put_scaling_policy(
        PolicyName="cpu50", ServiceNamespace="ecs", ResourceId=resource_id, ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
            "ScaleOutCooldown": 60, "ScaleInCooldown": 60,
        },
    )
    assert policy["PolicyARN"].startswith(f"arn:aws:autoscaling:{REGION}:000000000000:scalingPolicy:")
    assert policy["PolicyARN"].endswith(f":resource/ecs/{resource_id}:policyName/cpu50")
    names = sorted(a["AlarmName"] for a in policy["Alarms"])
    high = next(n for n in names if n.startswith(f"TargetTracking-{resource_id}-AlarmHigh-"))
    low = next(n for n in names if n.startswith(f"TargetTracking-{resource_id}-AlarmLow-"))
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=[high, low])["MetricAlarms"]}
    assert (alarms[high]["EvaluationPeriods"], alarms[high]["DatapointsToAlarm"], alarms[high]["Threshold"]) == (3, 3, 50.0)
    assert alarms[high]["ComparisonOperator"] == "GreaterThanThreshold"
    assert (alarms[low]["EvaluationPeriods"], alarms[low]["Threshold"]) == (15, 45.0)
    assert alarms[low]["ComparisonOperator"] == "LessThanThreshold"
    assert alarms[high]["AlarmActions"] == [policy["PolicyARN"]]
    assert {d["Name"]: d["Value"] for d in alarms[high]["Dimensions"]} == {"ClusterName": c, "ServiceName": svc}

    # The load drives it to max.
    poll("desiredCount 3 (max)", lambda: desired(ecs, c, svc) == 3, 90)
    poll("3 tasks running", lambda: running_count(ecs, c, svc) == 3, 60)
    outs = [a for a in activities(aas, resource_id) if a["StatusCode"] == "Successful"]
    assert outs, outs
    for a in outs:
        assert a["Description"].startswith("Setting desired count to "), a
        assert a["Cause"] == f"monitor alarm {high} in state ALARM triggered policy cpu50", a

    # Stop the load: a new deployment whose tasks sleep. Scale-in waits for
    # it, then for AlarmLow's 15 periods and the cooldown.
    ecs.update_service(cluster=c, service=svc, taskDefinition=quiet_td)
    poll("desiredCount back to 1 (min)", lambda: desired(ecs, c, svc) == 1, 120)
    ins = [a for a in activities(aas, resource_id) if a["Cause"].startswith(f"monitor alarm {low} ")]
    assert ins and ins[0]["Description"] == "Setting desired count to 1.", ins
    assert ins[0]["StatusCode"] == "Successful"
    assert ins[0]["StatusMessage"] == "Successfully set desired count to 1. Change successfully fulfilled by ecs."
    # While at max, the repeated AlarmHigh left a not-scaled activity.
    everything = aas.describe_scaling_activities(
        ServiceNamespace="ecs", ResourceId=resource_id, IncludeNotScaledActivities=True)["ScalingActivities"]
    assert any(r["Code"] == "AlreadyAtMaxCapacity" for a in everything for r in a.get("NotScaledReasons", [])), \
        everything

    # Deleting the policy deletes its alarms; deregistering removes the target.
    aas.delete_scaling_policy(PolicyName="cpu50", ServiceNamespace="ecs", ResourceId=resource_id,
                              ScalableDimension=DIMENSION)
    assert cw.describe_alarms(AlarmNames=[high, low])["MetricAlarms"] == []
    aas.deregister_scalable_target(ServiceNamespace="ecs", ResourceId=resource_id, ScalableDimension=DIMENSION)
    assert aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource_id])["ScalableTargets"] == []


def test_step_scaling_and_a_scheduled_action_change_desired_count(server, agent_cluster, image):
    ecs = server.client("ecs")
    aas = server.client("application-autoscaling")
    cw = server.client("cloudwatch")
    c = agent_cluster.name
    td = register(ecs, unique("sleep"), [{
        "name": "s", "image": image, "cpu": TASK_CPU, "memory": TASK_MEMORY, "essential": True,
        "command": ["sleep", "100000"],
    }])
    svc = unique("steps")
    ecs.create_service(cluster=c, serviceName=svc, taskDefinition=td, desiredCount=1)
    resource_id = f"service/{c}/{svc}"
    aas.register_scalable_target(ServiceNamespace="ecs", ResourceId=resource_id, ScalableDimension=DIMENSION,
                                 MinCapacity=1, MaxCapacity=6)
    arn = aas.put_scaling_policy(
        PolicyName="queue-steps", ServiceNamespace="ecs", ResourceId=resource_id, ScalableDimension=DIMENSION,
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity", "Cooldown": 60, "MetricAggregationType": "Average",
            "StepAdjustments": [
                {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 10.0, "ScalingAdjustment": 1},
                {"MetricIntervalLowerBound": 10.0, "ScalingAdjustment": 3},
            ],
        },
    )["PolicyARN"]
    described = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource_id)["ScalingPolicies"]
    assert [p["PolicyType"] for p in described] == ["StepScaling"]
    alarm = unique("queue-high")
    server.aws("cloudwatch", "put-metric-alarm", "--alarm-name", alarm, "--namespace", "App",
               "--metric-name", "QueueDepth", "--statistic", "Average", "--period", "60",
               "--evaluation-periods", "1", "--threshold", "60", "--comparison-operator", "GreaterThanThreshold",
               "--alarm-actions", arn)
    # A breach of 15 above the threshold: the second step, +3.
    cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test",
                       StateReasonData=json.dumps({"recentDatapoints": [75.0]}))
    poll("desiredCount 4 (1 + 3)", lambda: desired(ecs, c, svc) == 4, 20)
    step = activities(aas, resource_id)[0]
    assert step["Description"] == "Setting desired count to 4."
    assert step["Cause"] == f"monitor alarm {alarm} in state ALARM triggered policy queue-steps"

    # A scheduled action a few seconds from now pins min and max at 2; its
    # time is Tokyo's wall clock (UTC+9, no daylight saving time).
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=9, seconds=3)
    server.aws("application-autoscaling", "put-scheduled-action", "--service-namespace", "ecs",
               "--resource-id", resource_id, "--scalable-dimension", DIMENSION,
               "--scheduled-action-name", "night", "--schedule", f"at({at:%Y-%m-%dT%H:%M:%S})",
               "--timezone", "Asia/Tokyo", "--scalable-target-action", "MinCapacity=2,MaxCapacity=2")
    actions = aas.describe_scheduled_actions(ServiceNamespace="ecs", ResourceId=resource_id)["ScheduledActions"]
    assert [(a["ScheduledActionName"], a["ScalableTargetAction"]) for a in actions] == [
        ("night", {"MinCapacity": 2, "MaxCapacity": 2})]
    assert actions[0]["ScheduledActionARN"].endswith(f":resource/ecs/{resource_id}:scheduledActionName/night")
    poll("desiredCount 2 (the scheduled max)", lambda: desired(ecs, c, svc) == 2, 20)
    target = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource_id])["ScalableTargets"][0]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 2)
    causes = [a["Cause"] for a in activities(aas, resource_id)]
    assert "scheduled action name night was triggered" in causes, causes
    assert "maximum capacity was set to 2" in causes, causes
    aas.delete_scheduled_action(ServiceNamespace="ecs", ResourceId=resource_id, ScalableDimension=DIMENSION,
                                ScheduledActionName="night")
    assert aas.describe_scheduled_actions(ServiceNamespace="ecs")["ScheduledActions"] == []


def test_target_tracking_on_metric_math_scales_out(server):
    """A customized metric given as metric math (backlog per task, the
    pattern AWS documents for queue workers): the policy's alarms watch the
    expression, CloudWatch evaluates it over the published metrics, and the
    service scales to ceil(1 x 50 / 10) = 5. No containers are needed: the
    scaling acts on desiredCount."""
    ecs = server.client("ecs")
    aas = server.client("application-autoscaling")
    cw = server.client("cloudwatch")
    c = unique("aas-math")
    ecs.create_cluster(clusterName=c)
    td = register(ecs, unique("idle"), [{"name": "s", "image": "busybox", "memory": 16, "essential": True}])
    svc = unique("worker")
    ecs.create_service(cluster=c, serviceName=svc, taskDefinition=td, desiredCount=1)
    resource_id = f"service/{c}/{svc}"
    target = dict(ServiceNamespace="ecs", ResourceId=resource_id, ScalableDimension=DIMENSION)
    aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=10)
    queue = [{"Name": "Queue", "Value": svc}]

    def stat(name: str) -> dict:
        return {"Metric": {"Namespace": "Berth/E2E", "MetricName": name, "Dimensions": queue}, "Stat": "Average"}

    metrics = [
        {"Id": "backlog", "MetricStat": stat("Backlog"), "ReturnData": False},
        {"Id": "workers", "MetricStat": stat("Workers"), "ReturnData": False},
        {"Id": "per_worker", "Expression": "backlog / workers", "Label": "Backlog per worker", "ReturnData": True},
    ]
    config = {"TargetValue": 10.0, "CustomizedMetricSpecification": {"Metrics": metrics}}
    server.aws("application-autoscaling", "put-scaling-policy", "--service-namespace", "ecs",
               "--resource-id", resource_id, "--scalable-dimension", DIMENSION, "--policy-name", "backlog",
               "--policy-type", "TargetTrackingScaling",
               "--target-tracking-scaling-policy-configuration", json.dumps(config))
    policy = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource_id)["ScalingPolicies"][0]
    shown = policy["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]["Metrics"]
    assert [(q["Id"], q.get("Expression"), q.get("ReturnData")) for q in shown] == [
        ("backlog", None, False), ("workers", None, False), ("per_worker", "backlog / workers", True)]
    assert shown[0]["MetricStat"] == stat("Backlog")
    names = [a["AlarmName"] for a in policy["Alarms"]]
    alarms = cw.describe_alarms(AlarmNames=names)["MetricAlarms"]
    assert len(alarms) == 2
    for a in alarms:
        assert "MetricName" not in a
        assert [q["Id"] for q in a["Metrics"]] == ["backlog", "workers", "per_worker"]
        assert a["Metrics"][0]["MetricStat"]["Period"] == 60

    def publish_and_read():
        cw.put_metric_data(Namespace="Berth/E2E", MetricData=[
            {"MetricName": "Backlog", "Dimensions": queue, "Value": 100.0},
            {"MetricName": "Workers", "Dimensions": queue, "Value": 2.0},
        ])
        return desired(ecs, c, svc) == 5

    # 3 of 3 one-minute periods above 10 (2 s each at --time-scale 30).
    poll("desiredCount 5 (backlog per worker 50, target 10)", publish_and_read, 60, interval=0.5)
    high = next(n for n in names if "-AlarmHigh-" in n)
    causes = [a["Cause"] for a in activities(aas, resource_id)]
    assert any(high in cause for cause in causes), causes
    aas.deregister_scalable_target(**target)
    assert cw.describe_alarms(AlarmNames=names)["MetricAlarms"] == []


def test_bad_input_as_aws_answers_it_and_targets_survive_a_restart(server):
    ecs = server.client("ecs")
    aas = server.client("application-autoscaling")
    c = unique("aas-bad")
    ecs.create_cluster(clusterName=c)
    td = register(ecs, unique("idle"), [{"name": "s", "image": "busybox", "memory": 16, "essential": True}])
    svc = unique("svc")
    ecs.create_service(cluster=c, serviceName=svc, taskDefinition=td, desiredCount=5)
    resource_id = f"service/{c}/{svc}"
    target = dict(ServiceNamespace="ecs", ResourceId=resource_id, ScalableDimension=DIMENSION)

    code, msg = code_of(aas.register_scalable_target, ServiceNamespace="ecs", ResourceId=f"service/{c}/missing",
                        ScalableDimension=DIMENSION, MinCapacity=1, MaxCapacity=2)
    assert (code, msg) == ("ValidationException", f"ECS service doesn't exist: service/{c}/missing")
    aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=6)
    code, msg = code_of(aas.put_scheduled_action, **target, ScheduledActionName="tz",
                        Schedule="cron(0 9 * * ? *)", Timezone="Mars/Olympus_Mons",
                        ScalableTargetAction={"MinCapacity": 1})
    assert code == "ValidationException" and "Mars/Olympus_Mons" in msg and "IANA" in msg, msg
    assert aas.describe_scheduled_actions(ServiceNamespace="ecs", ResourceId=resource_id)["ScheduledActions"] == []
    aas.deregister_scalable_target(**target)
    code, msg = code_of(aas.register_scalable_target, **target, MinCapacity=4, MaxCapacity=2)
    assert code == "ValidationException" and "cannot be less than minimum" in msg, msg
    code, msg = code_of(aas.put_scaling_policy, PolicyName="p", **target, PolicyType="StepScaling",
                        StepScalingPolicyConfiguration={"AdjustmentType": "ChangeInCapacity",
                                                        "StepAdjustments": [{"MetricIntervalLowerBound": 0.0,
                                                                             "ScalingAdjustment": 1}]})
    assert code == "ObjectNotFoundException" and "No scalable target registered" in msg, msg
    code, msg = code_of(aas.deregister_scalable_target, **target)
    assert code == "ObjectNotFoundException", msg
    # A namespace the model does not know, and one Berth does not scale.
    with pytest.raises(AwsCliError) as e:
        server.aws("application-autoscaling", "describe-scalable-targets", "--service-namespace", "nosuch")
    assert e.value.code == "ValidationException", e.value
    code, msg = code_of(aas.register_scalable_target, ServiceNamespace="dynamodb", ResourceId="table/t",
                        ScalableDimension="dynamodb:table:ReadCapacityUnits", MinCapacity=1, MaxCapacity=2)
    assert code == "ValidationException" and "Unsupported service namespace 'dynamodb'" in msg, msg

    # Registering clamps the desired count (5) into [1, 3]; tags.
    arn = aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=3,
                                       Tags={"team": "web"})["ScalableTargetARN"]
    poll("desiredCount clamped to 3", lambda: desired(ecs, c, svc) == 3, 10)
    assert aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"team": "web"}
    aas.tag_resource(ResourceARN=arn, Tags={"env": "test"})
    aas.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"env": "test"}
    code, msg = code_of(aas.put_scaling_policy, PolicyName="alb", **target, PolicyType="TargetTrackingScaling",
                        TargetTrackingScalingPolicyConfiguration={
                            "TargetValue": 100.0,
                            "PredefinedMetricSpecification": {
                                "PredefinedMetricType": "ALBRequestCountPerTarget",
                                "ResourceLabel": "targetgroup/tg/0123456789abcdef"}})
    assert code == "ValidationException" and "ResourceLabel" in msg, msg
    code, msg = code_of(aas.put_scheduled_action, **target, ScheduledActionName="x", Schedule="rate(5 weeks)",
                        ScalableTargetAction={"MinCapacity": 1})
    assert code == "ValidationException" and "rate" in msg, msg
    aas.register_scalable_target(**target, SuspendedState={"DynamicScalingInSuspended": True})

    server.restart()
    aas = server.client("application-autoscaling")
    after = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource_id])["ScalableTargets"]
    assert [(t["ScalableTargetARN"], t["MinCapacity"], t["MaxCapacity"], t["SuspendedState"]["DynamicScalingInSuspended"])
            for t in after] == [(arn, 1, 3, True)]
    assert [a["Cause"] for a in activities(aas, resource_id)] == ["maximum capacity was set to 3"]


def test_authorization_is_on_the_scalable_target_with_its_tags(server):
    ecs = server.client("ecs")
    aas = server.client("application-autoscaling")
    c = unique("aas-authz")
    ecs.create_cluster(clusterName=c)
    td = register(ecs, unique("idle"), [{"name": "s", "image": "busybox", "memory": 16, "essential": True}])
    web, other = unique("web"), unique("other")
    for name in (web, other):
        ecs.create_service(cluster=c, serviceName=name, taskDefinition=td, desiredCount=0)
    web_arn = aas.register_scalable_target(ServiceNamespace="ecs", ResourceId=f"service/{c}/{web}",
                                           ScalableDimension=DIMENSION, MinCapacity=0, MaxCapacity=2,
                                           Tags={"team": "web"})["ScalableTargetARN"]
    aas.register_scalable_target(ServiceNamespace="ecs", ResourceId=f"service/{c}/{other}",
                                 ScalableDimension=DIMENSION, MinCapacity=0, MaxCapacity=2)
    _, client = make_user(server, [
        {"Effect": "Allow", "Action": "application-autoscaling:Describe*", "Resource": "*"},
        {"Effect": "Allow",
         "Action": ["application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScalingPolicy"],
         "Resource": f"arn:aws:application-autoscaling:{REGION}:000000000000:scalable-target/*",
         "Condition": {"StringEquals": {"aws:ResourceTag/team": "web",
                                        "application-autoscaling:service-namespace": "ecs"}}},
    ])
    user = client("application-autoscaling")
    assert len(user.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]) >= 2
    user.register_scalable_target(ServiceNamespace="ecs", ResourceId=f"service/{c}/{web}",
                                  ScalableDimension=DIMENSION, MaxCapacity=4)
    msg = denied(user.register_scalable_target, ServiceNamespace="ecs", ResourceId=f"service/{c}/{other}",
                 ScalableDimension=DIMENSION, MaxCapacity=4)
    assert "application-autoscaling:RegisterScalableTarget" in msg and ":scalable-target/" in msg, msg
    denied(user.deregister_scalable_target, ServiceNamespace="ecs", ResourceId=f"service/{c}/{web}",
           ScalableDimension=DIMENSION)
    target = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[f"service/{c}/{web}"])
    assert [(t["ScalableTargetARN"], t["MaxCapacity"]) for t in target["ScalableTargets"]] == [(web_arn, 4)]
