"""CloudWatch Logs, the CloudTrail audit trail and /metrics against a shared `berth up`.

`aws logs tail` exists only in AWS CLI v2; with the pinned CLI v1 the
follow-a-stream path is GetLogEvents with forward tokens (what `tail`
polls), tested here with both boto3 and the CLI.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from berthtest import ACCOUNT, AwsCliError, unique


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def log_stream(berth):
    logs = berth.client("logs")
    group = f"/berth-e2e/{unique('g')}"
    logs.create_log_group(logGroupName=group, tags={"suite": "e2e"})
    logs.create_log_stream(logGroupName=group, logStreamName="prefix/app/task-1")
    return logs, group, "prefix/app/task-1"


def test_5000_events_in_order_none_twice(berth, log_stream):
    logs, group, stream = log_stream
    base = now_ms() - 60_000
    for b in range(5):
        events = [{"timestamp": base + b * 1000 + i // 100, "message": f"line {b * 1000 + i + 1:05d}"} for i in range(1000)]
        out = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
        assert "rejectedLogEventsInfo" not in out
    seen = []
    token = None
    for _ in range(100):
        kwargs = {"logGroupName": group, "logStreamName": stream, "startFromHead": True, "limit": 700}
        if token:
            kwargs["nextToken"] = token
        out = logs.get_log_events(**kwargs)
        seen.extend(e["message"] for e in out["events"])
        if out["nextForwardToken"] == token:
            break
        token = out["nextForwardToken"]
    else:
        pytest.fail("the forward token never settled")
    assert seen == [f"line {i:05d}" for i in range(1, 5001)]

    # The CLI sees the same, in one call, and following its token yields nothing new.
    out = berth.aws("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream, "--start-from-head")
    assert [e["message"] for e in out["events"]] == seen
    again = berth.aws(
        "logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream,
        "--next-token", out["nextForwardToken"],
    )
    assert again["events"] == []
    assert again["nextForwardToken"] == out["nextForwardToken"]

    streams = berth.aws("logs", "describe-log-streams", "--log-group-name", group, "--order-by", "LastEventTime", "--descending")
    s = streams["logStreams"][0]
    assert s["logStreamName"] == stream
    assert s["firstEventTimestamp"] == base
    assert s["lastEventTimestamp"] == base + 4000 + 9


def test_following_a_stream_sees_new_lines(berth, log_stream):
    """What `aws logs tail --follow` does (CLI v2 only): poll with the forward token."""
    logs, group, stream = log_stream
    out = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    token = out["nextForwardToken"]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": now_ms(), "message": "hello"}])
    t0 = time.monotonic()
    got = []
    while time.monotonic() - t0 < 2.0 and not got:
        out = logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken=token)
        got = [e["message"] for e in out["events"]]
        token = out["nextForwardToken"]
    assert got == ["hello"]


def test_filter_json_pattern_returns_exactly_the_errors(berth, log_stream):
    logs, group, stream = log_stream
    logs.create_log_stream(logGroupName=group, logStreamName="other")
    t = now_ms() - 10_000
    want = []
    for s in (stream, "other"):
        events = []
        for i in range(300):
            level = "error" if i % 7 == 0 else "info"
            msg = json.dumps({"level": level, "i": i, "stream": s})
            events.append({"timestamp": t + i, "message": msg})
            if level == "error":
                want.append(msg)
        logs.put_log_events(logGroupName=group, logStreamName=s, logEvents=events)
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": t + 400, "message": "plain text mentioning error"}])
    out = berth.aws("logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", '{ $.level = "error" }')
    got = [e["message"] for e in out["events"]]
    assert sorted(got) == sorted(want)
    assert all(e["logStreamName"] in (stream, "other") for e in out["events"])

    text = logs.filter_log_events(logGroupName=group, filterPattern='error -info', logStreamNames=[stream])
    # Text terms: "error" present, "info" absent, in one stream only; time order.
    mine = [m for m in want if json.loads(m)["stream"] == stream]
    assert [e["message"] for e in text["events"]] == mine + ["plain text mentioning error"]

    with pytest.raises(AwsCliError) as e:
        berth.aws("logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", "{ $.level = ")
    assert e.value.code == "InvalidParameterException"


def test_retention_tags_and_errors(berth, log_stream):
    logs, group, _ = log_stream
    berth.aws("logs", "put-retention-policy", "--log-group-name", group, "--retention-in-days", "7")
    out = berth.aws("logs", "describe-log-groups", "--log-group-name-prefix", group)
    assert out["logGroups"][0]["retentionInDays"] == 7
    assert out["logGroups"][0]["arn"] == f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}:*"
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"suite": "e2e"}
    with pytest.raises(AwsCliError) as e:
        berth.aws("logs", "create-log-group", "--log-group-name", group)
    assert e.value.code == "ResourceAlreadyExistsException"
    with pytest.raises(AwsCliError) as e:
        berth.aws("logs", "put-retention-policy", "--log-group-name", group, "--retention-in-days", "8")
    assert e.value.code == "InvalidParameterException"
    out = logs.put_log_events(
        logGroupName=group, logStreamName="prefix/app/task-1",
        logEvents=[{"timestamp": now_ms(), "message": "ok"}, {"timestamp": now_ms() + 3 * 3600 * 1000, "message": "future"}],
    )
    assert out["rejectedLogEventsInfo"]["tooNewLogEventStartIndex"] == 1


def _lookup(berth, key, value):
    return berth.aws("cloudtrail", "lookup-events", "--lookup-attributes", f"AttributeKey={key},AttributeValue={value}")["Events"]


def test_cloudtrail_records_calls_and_refusals(berth):
    cluster = unique("audit")
    berth.aws("ecs", "create-cluster", "--cluster-name", cluster)
    events = [e for e in _lookup(berth, "ResourceName", cluster) if e["EventName"] == "CreateCluster"]
    assert len(events) == 1
    ev = events[0]
    assert ev["EventSource"] == "ecs.amazonaws.com"
    assert ev["Username"] == "root"
    assert ev["AccessKeyId"] == "test"
    assert ev["ReadOnly"] == "false"
    doc = json.loads(ev["CloudTrailEvent"])
    assert doc["userIdentity"]["arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert doc["userIdentity"]["type"] == "Root"
    assert doc["requestParameters"]["clusterName"] == cluster
    assert doc["sourceIPAddress"] == "127.0.0.1"
    assert "aws-cli" in doc["userAgent"]
    # And by EventName, as the issue asks.
    by_name = _lookup(berth, "EventName", "CreateCluster")
    assert any(e["EventId"] == ev["EventId"] for e in by_name)

    # A refused call is recorded with its error code.
    bad = "bad name!" + unique("x")
    with pytest.raises(AwsCliError) as e:
        berth.aws("ecs", "create-cluster", "--cluster-name", bad)
    refused = [json.loads(x["CloudTrailEvent"]) for x in _lookup(berth, "ResourceName", bad)]
    assert len(refused) == 1
    assert refused[0]["errorCode"] == e.value.code
    assert refused[0]["errorMessage"]

    # So is a call whose signature fails, under the key it claimed.
    key = "AKIA" + unique("k").replace("-", "").upper()[:16]
    resp = berth.signed_request("AmazonEC2ContainerServiceV20141113.ListClusters", "{}", access_key=key, secret_key="nope")
    assert resp.status in (400, 403)
    failed = [json.loads(x["CloudTrailEvent"]) for x in _lookup(berth, "AccessKeyId", key)]
    assert len(failed) == 1
    assert failed[0]["errorCode"] == resp.code
    assert failed[0]["userIdentity"]["type"] == "Unknown"

    # Paging and the read-only flag.
    page = berth.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "true"}], MaxResults=2
    )
    assert len(page["Events"]) <= 2
    assert all(e["ReadOnly"] == "true" for e in page["Events"])


def test_metrics_and_readiness(berth):
    berth.aws("ecs", "list-clusters")
    assert requests.get(f"{berth.endpoint}/readyz", timeout=10).status_code == 200
    r = requests.get(f"{berth.endpoint}/metrics", timeout=10)
    assert r.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    reqs = families["berth_api_requests"]
    assert any(
        s.labels.get("service") == "ecs" and s.labels.get("operation") == "ListClusters" and s.value >= 1
        for s in reqs.samples
    )
    assert "berth_api_request_duration_seconds" in families
    assert "berth_store_operation_duration_seconds" in families
    assert "berth_container_instances" in families


def test_acknowledged_events_and_audit_survive_kill9(fresh_berth):
    logs = fresh_berth.client("logs")
    group = f"/berth-e2e/{unique('durable')}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    t = now_ms() - 1000
    for b in range(3):
        logs.put_log_events(
            logGroupName=group, logStreamName="s",
            logEvents=[{"timestamp": t + b, "message": f"{b}-{i}"} for i in range(100)],
        )
    # LookupEvents flushes the audit queue: these calls are now on disk.
    assert len(_lookup(fresh_berth, "ResourceName", group)) >= 5
    fresh_berth.restart(kill9=True)
    out = fresh_berth.client("logs").get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)
    assert [e["message"] for e in out["events"]] == [f"{b}-{i}" for b in range(3) for i in range(100)]
    names = {e["EventName"] for e in _lookup(fresh_berth, "ResourceName", group)}
    assert {"CreateLogGroup", "CreateLogStream", "PutLogEvents"} <= names


def test_secret_values_never_reach_the_audit_trail(berth):
    name = f"/berth-e2e/{unique('param')}"
    secret = unique("s3cr3t-value")
    berth.aws("ssm", "put-parameter", "--name", name, "--value", secret, "--type", "SecureString")
    events = _lookup(berth, "ResourceName", name)
    put = [json.loads(e["CloudTrailEvent"]) for e in events if e["EventName"] == "PutParameter"]
    assert len(put) == 1
    assert put[0]["eventSource"] == "ssm.amazonaws.com"
    assert put[0]["requestParameters"]["Name"] == name
    assert put[0]["requestParameters"]["Value"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert secret not in json.dumps(events)

    sm_name = unique("secret")
    sm_secret = unique("sm-s3cr3t")
    berth.aws("secretsmanager", "create-secret", "--name", sm_name, "--secret-string", sm_secret)
    events = _lookup(berth, "ResourceName", sm_name)
    assert any(e["EventName"] == "CreateSecret" for e in events)
    assert sm_secret not in json.dumps(events)


def test_query_protocol_calls_are_audited(berth):
    user = unique("audited-user")
    berth.aws("iam", "create-user", "--user-name", user)
    events = [e for e in _lookup(berth, "ResourceName", user) if e["EventName"] == "CreateUser"]
    assert len(events) == 1
    doc = json.loads(events[0]["CloudTrailEvent"])
    assert doc["eventSource"] == "iam.amazonaws.com"
    assert doc["requestParameters"] == {"UserName": user}
