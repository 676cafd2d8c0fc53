"""EventBridge, the part Berth serves (issue 18 item 4), with boto3 and the aws
CLI: rules with event patterns on the default bus, CloudWatch Logs log
groups as targets (the whole event, or its `InputPath`), PutEvents with
EventBridge's entry errors, delivery in order of enablement, a target that
is not there yet retried until it is, and a delivery owed when the server is
killed (SIGKILL) made after the restart. Bad input answers as EventBridge
does."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from berthtest import ACCOUNT, REGION, poll, requires_docker, unique
from test_tasks import docker, image  # noqa: F401  (a fixture, used by name)


def clients(server):
    return server.client("events"), server.client("logs")


def group_arn(name: str) -> str:
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"


def messages(logs, group: str) -> list[dict]:
    try:
        events = logs.filter_log_events(logGroupName=group)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [{**json.loads(e["message"]), "_stream": e["logStreamName"]} for e in events]


def error(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call(**kwargs)
    e = err.value.response["Error"]
    return e["Code"], e["Message"]


def test_rules_route_events_to_log_groups(berth):
    events, logs = clients(berth)
    whole, details = unique("/berth-e2e/events/whole"), unique("/berth-e2e/events/detail")
    logs.create_log_group(logGroupName=whole)
    logs.create_log_group(logGroupName=details)
    rule = unique("orders")
    pattern = {"source": ["my.shop"], "detail": {"level": [{"anything-but": "debug"}]}}
    arn = events.put_rule(Name=rule, EventPattern=json.dumps(pattern))["RuleArn"]
    assert arn == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"
    out = events.put_targets(Rule=rule, Targets=[
        {"Id": "whole", "Arn": group_arn(whole)},
        {"Id": "detail", "Arn": group_arn(details), "InputPath": "$.detail"},
    ])
    assert out["FailedEntryCount"] == 0

    described = events.describe_rule(Name=rule)
    assert (described["Arn"], described["State"], described["EventBusName"]) == (arn, "ENABLED", "default")
    assert json.loads(described["EventPattern"]) == pattern
    assert [r["Name"] for r in events.list_rules(NamePrefix=rule)["Rules"]] == [rule]
    targets = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert [(t["Id"], t.get("InputPath")) for t in targets] == [("whole", None), ("detail", "$.detail")]

    sent = events.put_events(Entries=[
        {"Source": "my.shop", "DetailType": "Order Placed", "Detail": json.dumps({"level": "info", "n": 1}),
         "Resources": ["arn:aws:ecs:us-east-1:000000000000:cluster/shop"]},
        {"Source": "my.shop", "DetailType": "Order Placed", "Detail": json.dumps({"level": "debug"})},
        {"Source": "my.shop", "DetailType": "Order Placed"},
        {"Source": "aws.ecs", "DetailType": "ECS Task State Change", "Detail": "{}"},
        {"Source": "my.shop", "DetailType": "Order Placed", "Detail": "[1]"},
    ])
    assert sent["FailedEntryCount"] == 3
    entries = sent["Entries"]
    first = entries[0]["EventId"]
    assert "EventId" in entries[1]
    assert entries[2]["ErrorCode"] == "InvalidArgument" and "Detail" in entries[2]["ErrorMessage"]
    assert (entries[3]["ErrorCode"], entries[3]["ErrorMessage"]) == (
        "NotAuthorizedForSourceException", "Not authorized for the source.")
    assert (entries[4]["ErrorCode"], entries[4]["ErrorMessage"]) == ("MalformedDetail", "Detail is malformed.")

    got = poll("the event in the log group", lambda: messages(logs, whole), deadline=20)
    assert len(got) == 1
    ev = got[0]
    assert ev["id"] == first and ev["_stream"] == first
    assert (ev["source"], ev["detail-type"], ev["account"], ev["region"]) == ("my.shop", "Order Placed", ACCOUNT, REGION)
    assert ev["detail"] == {"level": "info", "n": 1} and ev["version"] == "0"
    assert ev["resources"] == ["arn:aws:ecs:us-east-1:000000000000:cluster/shop"]
    detail = poll("the detail in the other group", lambda: messages(logs, details), deadline=20)
    assert [{k: v for k, v in d.items() if k != "_stream"} for d in detail] == [{"level": "info", "n": 1}]

    # A disabled rule owes nothing for what is sent meanwhile.
    events.disable_rule(Name=rule)
    assert events.describe_rule(Name=rule)["State"] == "DISABLED"
    off = events.put_events(Entries=[{"Source": "my.shop", "DetailType": "Off", "Detail": "{\"level\": \"x\"}"}])
    events.enable_rule(Name=rule)
    on = events.put_events(Entries=[{"Source": "my.shop", "DetailType": "On", "Detail": "{\"level\": \"x\"}"}])
    poll("the event sent after enabling", lambda: len(messages(logs, whole)) == 2, deadline=20)
    ids = [m["id"] for m in messages(logs, whole)]
    assert on["Entries"][0]["EventId"] in ids and off["Entries"][0]["EventId"] not in ids

    # A rule with targets is not deleted; without them it is.
    code, msg = error(events.delete_rule, Name=rule)
    assert code == "ValidationException" and "has targets" in msg
    events.remove_targets(Rule=rule, Ids=["whole", "detail"])
    events.delete_rule(Name=rule)
    code, _ = error(events.describe_rule, Name=rule)
    assert code == "ResourceNotFoundException"


@requires_docker()
def test_a_task_state_change_reaches_a_rule_of_aws_ecs(berth, image):  # noqa: F811
    events, logs = clients(berth)
    ecs = berth.client("ecs")
    family = unique("evented")
    td = ecs.register_task_definition(family=family, containerDefinitions=[{
        "name": "app", "image": image, "memory": 32, "essential": True, "command": ["sh", "-c", "exit 3"],
    }])["taskDefinition"]["taskDefinitionArn"]
    group, rule = unique("/berth-e2e/events/ecs"), unique("tasks")
    logs.create_log_group(logGroupName=group)
    pattern = {"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"], "detail": {"taskDefinitionArn": [td]}}
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, Targets=[{"Id": "g", "Arn": group_arn(group)}])
    task = None
    try:
        task = ecs.run_task(cluster="default", taskDefinition=td)["tasks"][0]["taskArn"]
        stopped = poll("the STOPPED event", lambda: [
            m for m in messages(logs, group) if m["detail"]["lastStatus"] == "STOPPED"], deadline=60)
        seen = messages(logs, group)
        assert all(m["resources"] == [task] and m["source"] == "aws.ecs" for m in seen)
        assert all((m["account"], m["region"]) == (ACCOUNT, REGION) for m in seen)
        # One event per change of status, in order; the first one asks for RUNNING.
        pairs = [(m["detail"]["lastStatus"], m["detail"]["desiredStatus"]) for m in seen]
        assert len(pairs) == len(set(pairs)), pairs
        assert pairs[0][1] == "RUNNING" and pairs[-1] == ("STOPPED", "STOPPED"), pairs
        detail = stopped[0]["detail"]
        assert detail["taskArn"] == task and detail["stopCode"] == "EssentialContainerExited"
        assert detail["containers"][0]["exitCode"] == 3
        assert detail["tags"] == []
    finally:
        # Only this task's containers: other workers' servers share the cluster name.
        ids = docker("ps", "-aq", "--filter", f"label=com.amazonaws.ecs.task-arn={task}", check=False).split()
        if task and ids:
            docker("rm", "-f", "-v", *ids, check=False)


@requires_docker()
def test_a_service_deployment_sends_its_state_changes(berth, image):  # noqa: F811
    events, logs = clients(berth)
    ecs = berth.client("ecs")
    family = unique("deployed")
    td = ecs.register_task_definition(family=family, containerDefinitions=[{
        "name": "app", "image": image, "memory": 16, "essential": True, "command": ["sleep", "3600"],
        "stopTimeout": 2,
    }])["taskDefinition"]["taskDefinitionArn"]
    name = unique("evsvc")
    group, rule = unique("/berth-e2e/events/deploy"), unique("deploys")
    logs.create_log_group(logGroupName=group)
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/default/{name}"
    pattern = {"source": ["aws.ecs"], "detail-type": ["ECS Deployment State Change"], "resources": [arn]}
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, Targets=[{"Id": "g", "Arn": group_arn(group)}])
    # The scheduler's service actions, and the container instances' changes
    # (a task placed changes the instance's remaining resources).
    actions, action_rule = unique("/berth-e2e/events/actions"), unique("actions")
    instances, instance_rule = unique("/berth-e2e/events/instances"), unique("instances")
    for g in (actions, instances):
        logs.create_log_group(logGroupName=g)
    events.put_rule(Name=action_rule, EventPattern=json.dumps(
        {"source": ["aws.ecs"], "detail-type": ["ECS Service Action"], "resources": [arn]}))
    events.put_targets(Rule=action_rule, Targets=[{"Id": "g", "Arn": group_arn(actions)}])
    # Only this cluster's instances: other tests register agents in clusters
    # of their own on the same server while this one runs.
    events.put_rule(Name=instance_rule, EventPattern=json.dumps(
        {"source": ["aws.ecs"], "detail-type": ["ECS Container Instance State Change"],
         "detail": {"clusterArn": [f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/default"]}}))
    events.put_targets(Rule=instance_rule, Targets=[{"Id": "g", "Arn": group_arn(instances)}])
    try:
        service = ecs.create_service(cluster="default", serviceName=name, taskDefinition=td, desiredCount=1)["service"]
        deployment = service["deployments"][0]["id"]
        got = poll("in progress, then completed", lambda: (
            lambda names: names if "SERVICE_DEPLOYMENT_COMPLETED" in names else None)(
            [m["detail"]["eventName"] for m in messages(logs, group)]), deadline=60)
        assert got == ["SERVICE_DEPLOYMENT_IN_PROGRESS", "SERVICE_DEPLOYMENT_COMPLETED"], got
        done = [m for m in messages(logs, group)][-1]
        assert done["resources"] == [arn] and done["detail"]["deploymentId"] == deployment
        assert (done["detail"]["eventType"], done["detail"]["reason"]) == (
            "INFO", f"ECS deployment {deployment} completed.")
        steady = poll("the service's steady state as a service action", lambda: [
            m for m in messages(logs, actions) if m["detail"]["eventName"] == "SERVICE_STEADY_STATE"], deadline=30)
        assert steady[0]["resources"] == [arn]
        assert steady[0]["detail"]["eventType"] == "INFO"
        assert steady[0]["detail"]["clusterArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/default"
        changed = poll("a container instance state change", lambda: messages(logs, instances), deadline=30)
        detail = changed[-1]["detail"]
        instance_arns = ecs.list_container_instances(cluster="default")["containerInstanceArns"]
        assert changed[-1]["resources"] == [detail["containerInstanceArn"]]
        assert detail["containerInstanceArn"] in instance_arns
        assert detail["clusterArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/default"
        assert (detail["status"], detail["agentConnected"]) == ("ACTIVE", True)
        assert {r["name"] for r in detail["remainingResources"]} >= {"CPU", "MEMORY", "PORTS"}
        assert isinstance(detail["version"], int) and detail["version"] > 0
    finally:
        ecs.delete_service(cluster="default", service=name, force=True)
        ids = docker("ps", "-aq", "--filter", f"label=com.amazonaws.ecs.task-definition-family={family}",
                     check=False).split()
        if ids:
            docker("rm", "-f", "-v", *ids, check=False)


def test_a_target_that_is_not_there_yet_gets_the_event_later_even_across_a_kill(fresh_berth):
    events, logs = clients(fresh_berth)
    group = unique("/berth-e2e/events/later")
    rule = unique("later")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["my.later"]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "g", "Arn": group_arn(group)}])
    sent = events.put_events(Entries=[{"Source": "my.later", "DetailType": "T", "Detail": "{}"}])
    event_id = sent["Entries"][0]["EventId"]
    # The group does not exist: the delivery waits in the store. The server dies.
    fresh_berth.restart(kill9=True)
    events, logs = clients(fresh_berth)
    logs.create_log_group(logGroupName=group)
    got = poll("the owed event delivered after the restart", lambda: messages(logs, group), deadline=30)
    assert [m["id"] for m in got] == [event_id]


def test_bad_input_is_answered_as_eventbridge_does(berth):
    events, _ = clients(berth)
    rule = unique("bad")
    code, msg = error(events.put_rule, Name=rule, EventPattern='{"source": "my.app"}')
    assert code == "InvalidEventPatternException"
    assert msg.startswith("Event pattern is not valid. Reason: ") and "\"source\"" in msg
    code, msg = error(events.put_rule, Name=rule, EventPattern='{"detail": {"n": [{"numeric": ["<", 1, ">", 5]}]}}')
    assert code == "InvalidEventPatternException"
    code, msg = error(events.put_rule, Name=rule)
    assert (code, msg) == ("ValidationException", "Parameter(s) EventPattern or ScheduleExpression must be specified.")
    code, msg = error(events.put_rule, Name=rule, ScheduleExpression="rate(5 minutes)")
    assert code == "ValidationException" and "ScheduleExpression" in msg
    code, _ = error(events.put_rule, Name="bad name!", EventPattern='{"source": ["a"]}')
    assert code == "ValidationException"
    code, msg = error(events.put_rule, Name=rule, EventPattern='{"source": ["a"]}', EventBusName="orders")
    assert code == "ResourceNotFoundException" and "orders" in msg
    # Nothing was stored by the refusals.
    assert events.list_rules(NamePrefix=rule)["Rules"] == []

    events.put_rule(Name=rule, EventPattern='{"source": ["a"]}')
    code, msg = error(events.put_targets, Rule=rule, Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"}])
    assert code == "ValidationException" and "log groups" in msg
    code, msg = error(events.put_targets, Rule=rule, Targets=[
        {"Id": "t", "Arn": group_arn("/g"), "Input": "{}", "InputPath": "$.detail"}])
    assert code == "ValidationException" and "only one of Input, InputPath" in msg
    six = [{"Id": f"t{i}", "Arn": group_arn(f"/g{i}")} for i in range(6)]
    code, _ = error(events.put_targets, Rule=rule, Targets=six)
    assert code == "LimitExceededException"
    assert events.list_targets_by_rule(Rule=rule)["Targets"] == []
    code, _ = error(events.put_targets, Rule=unique("missing"), Targets=[{"Id": "t", "Arn": group_arn("/g")}])
    assert code == "ResourceNotFoundException"

    event = {"id": "1", "account": ACCOUNT, "source": "a", "time": "2026-12-06T00:00:00Z", "region": REGION,
             "detail-type": "T", "resources": [], "detail": {"n": 3}}
    pattern = '{"detail": {"n": [{"numeric": [">", 2]}]}}'
    assert events.test_event_pattern(EventPattern=pattern, Event=json.dumps(event))["Result"] is True
    assert events.test_event_pattern(EventPattern=pattern, Event=json.dumps({**event, "detail": {"n": 1}}))["Result"] is False
    code, _ = error(events.test_event_pattern, EventPattern=pattern, Event="{}")
    assert code == "ValidationException"


def test_the_aws_cli_manages_rules(berth):
    rule = unique("cli")
    out = berth.aws("events", "put-rule", "--name", rule, "--event-pattern", '{"source": ["my.cli"]}',
                    "--description", "from the CLI")
    assert out["RuleArn"].endswith(f":rule/{rule}")
    listed = berth.aws("events", "list-rules", "--name-prefix", rule)["Rules"]
    assert [(r["Name"], r["Description"], r["State"]) for r in listed] == [(rule, "from the CLI", "ENABLED")]
    berth.aws("events", "delete-rule", "--name", rule)
    assert berth.aws("events", "list-rules", "--name-prefix", rule)["Rules"] == []
