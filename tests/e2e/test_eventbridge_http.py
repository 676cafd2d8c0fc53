"""EventBridge connections, API destinations and HTTP targets (issue 18 item
4), with boto3 and the aws CLI: an HTTP server in this process on 127.0.0.1
(an ephemeral port) records what EventBridge calls it with. A rule's API
destination target gets the event with the connection's Basic or API key
authorization and parameters and the target's path, header and query
parameters; 503 is retried (the third try succeeds), 400 is not, a retry
policy of 0 attempts makes one; the destination's rate limit spaces the
calls; a call owed when the server is killed (SIGKILL) is made after the
restart, the connection's sealed password opened again. Describe never
shows a secret and the data dir holds none in clear. Bad input answers as
EventBridge does."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import botocore.exceptions
import pytest

from berthtest import ACCOUNT, REGION, denied, make_user, poll, unique

ROLE = f"arn:aws:iam::{ACCOUNT}:role/eventbridge-api-destinations"


class Recorder:
    """An HTTP endpoint: each path answers the statuses scripted for it in
    turn (then 200) and every request is recorded (header names in lower
    case, as HTTP compares them)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.scripts: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                path = self.path.split("?", 1)[0]
                with recorder.lock:
                    recorder.requests.append({
                        "method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body, "at": time.monotonic(),
                    })
                    script = recorder.scripts.get(path, [])
                    status = script.pop(0) if script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = do_GET = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, prefix: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["path"].startswith(prefix)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def endpoint():
    r = Recorder()
    try:
        yield r
    finally:
        r.close()


def error(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call(**kwargs)
    e = err.value.response["Error"]
    return e["Code"], e["Message"]


def rule_with_target(events, source: str, target: dict) -> str:
    rule = unique("http")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    out = events.put_targets(Rule=rule, Targets=[target])
    assert out["FailedEntryCount"] == 0, out
    return rule


def put_event(events, source: str, detail: dict) -> str:
    out = events.put_events(Entries=[{"Source": source, "DetailType": "Order", "Detail": json.dumps(detail)}])
    assert out["FailedEntryCount"] == 0, out
    return out["Entries"][0]["EventId"]


def basic_connection(events, name: str, password: str, secret_header: str) -> dict:
    return events.create_connection(
        Name=name,
        AuthorizationType="BASIC",
        AuthParameters={
            "BasicAuthParameters": {"Username": "alice", "Password": password},
            "InvocationHttpParameters": {
                "HeaderParameters": [
                    {"Key": "X-Team", "Value": "core", "IsValueSecret": False},
                    {"Key": "X-Signing", "Value": secret_header, "IsValueSecret": True},
                ],
                "QueryStringParameters": [{"Key": "team", "Value": "core", "IsValueSecret": False}],
            },
        },
    )


def test_basic_connection_delivers_with_its_authorization_and_the_target_parameters(berth, endpoint):
    events = berth.client("events")
    name = unique("basic")
    password, secret_header = f"pw-{unique('p')}", f"sig-{unique('s')}"
    made = basic_connection(events, name, password, secret_header)
    assert made["ConnectionState"] == "AUTHORIZED"
    assert made["ConnectionArn"].startswith(f"arn:aws:events:{REGION}:{ACCOUNT}:connection/{name}/")

    described = events.describe_connection(Name=name)
    text = json.dumps(described, default=str)
    assert password not in text and secret_header not in text
    assert described["AuthorizationType"] == "BASIC"
    assert described["AuthParameters"]["BasicAuthParameters"] == {"Username": "alice"}
    headers = described["AuthParameters"]["InvocationHttpParameters"]["HeaderParameters"]
    assert headers == [
        {"Key": "X-Team", "Value": "core", "IsValueSecret": False},
        {"Key": "X-Signing", "IsValueSecret": True},
    ]
    assert described["SecretArn"].startswith(
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:events!connection/{name}/"
    )

    prefix = f"/{unique('basic')}"
    dest = events.create_api_destination(
        Name=unique("dest"), ConnectionArn=made["ConnectionArn"],
        InvocationEndpoint=endpoint.url(prefix + "/orders/*"), HttpMethod="PUT",
    )
    assert dest["ApiDestinationState"] == "ACTIVE"
    assert dest["ApiDestinationArn"].startswith(f"arn:aws:events:{REGION}:{ACCOUNT}:api-destination/")
    source = unique("shop")
    rule = rule_with_target(events, source, {
        "Id": "hook", "Arn": dest["ApiDestinationArn"], "RoleArn": ROLE, "InputPath": "$.detail",
        "HttpParameters": {
            "PathParameterValues": ["o-17"],
            "HeaderParameters": {"X-Target": "t1", "X-Team": "loses"},
            "QueryStringParameters": {"q": "a b"},
        },
        "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600},
    })
    listed = events.list_targets_by_rule(Rule=rule)["Targets"][0]
    assert listed["HttpParameters"]["PathParameterValues"] == ["o-17"]
    assert listed["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600}
    assert listed["RoleArn"] == ROLE

    put_event(events, source, {"order": 17})
    got = poll("the API destination's call", lambda: endpoint.to(prefix), 20)
    r = got[0]
    assert len(got) == 1
    assert r["method"] == "PUT"
    assert r["path"] == f"{prefix}/orders/o-17?team=core&q=a%20b"
    assert r["headers"]["authorization"] == "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()
    assert r["headers"]["x-signing"] == secret_header
    assert r["headers"]["x-team"] == "core"  # the connection's parameter wins
    assert r["headers"]["x-target"] == "t1"
    assert r["headers"]["content-type"].startswith("application/json")
    assert json.loads(r["body"]) == {"order": 17}

    # No secret in clear anywhere in the data dir (store, audit trail, logs).
    for path in Path(berth.data_dir).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert password.encode() not in data, path
            assert secret_header.encode() not in data, path
    log = Path(berth.log_path).read_bytes()
    assert password.encode() not in log and secret_header.encode() not in log


def test_api_key_connection_with_the_cli(berth, endpoint):
    name, key = unique("apikey"), f"k-{unique('key')}"
    made = berth.aws(
        "events", "create-connection", "--name", name, "--authorization-type", "API_KEY",
        "--auth-parameters", json.dumps({"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": key}}),
    )
    assert made["ConnectionState"] == "AUTHORIZED"
    described = berth.aws("events", "describe-connection", "--name", name)
    assert described["AuthParameters"] == {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key"}}
    assert key not in json.dumps(described)
    names = [c["Name"] for c in berth.aws("events", "list-connections", "--name-prefix", name)["Connections"]]
    assert names == [name]

    prefix, dest_name = f"/{unique('apikey')}", unique("dest")
    # (The aws CLI v1 would fetch an http:// value given as an argument: the input goes as JSON.)
    dest = berth.aws("events", "create-api-destination", "--cli-input-json", json.dumps({
        "Name": dest_name, "ConnectionArn": made["ConnectionArn"],
        "InvocationEndpoint": endpoint.url(prefix), "HttpMethod": "POST",
    }))
    source = unique("cli")
    rule = unique("cli")
    berth.aws("events", "put-rule", "--name", rule, "--event-pattern", json.dumps({"source": [source]}))
    berth.aws("events", "put-targets", "--rule", rule, "--targets",
              json.dumps([{"Id": "1", "Arn": dest["ApiDestinationArn"], "RoleArn": ROLE}]))
    berth.aws("events", "put-events", "--entries",
              json.dumps([{"Source": source, "DetailType": "Ping", "Detail": json.dumps({"n": 1})}]))
    r = poll("the API key call", lambda: endpoint.to(prefix), 20)[0]
    assert r["headers"]["x-api-key"] == key
    event = json.loads(r["body"])
    assert (event["source"], event["detail-type"], event["detail"]) == (source, "Ping", {"n": 1})

    listed = berth.aws("events", "list-api-destinations", "--connection-arn", made["ConnectionArn"])
    assert [d["Name"] for d in listed["ApiDestinations"]] == [dest_name]
    updated = berth.aws("events", "update-api-destination", "--name", dest_name,
                        "--invocation-rate-limit-per-second", "5")
    assert updated["ApiDestinationState"] == "ACTIVE"
    assert berth.aws("events", "describe-api-destination", "--name", dest_name)["InvocationRateLimitPerSecond"] == 5

    out = berth.aws("events", "deauthorize-connection", "--name", name)
    assert out["ConnectionState"] == "DEAUTHORIZED"
    assert berth.aws("events", "describe-api-destination", "--name", dest_name)["ApiDestinationState"] == "INACTIVE"
    again = berth.aws(
        "events", "update-connection", "--name", name,
        "--auth-parameters", json.dumps({"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": key}}),
    )
    assert again["ConnectionState"] == "AUTHORIZED"

    berth.aws("events", "remove-targets", "--rule", rule, "--ids", "1")
    berth.aws("events", "delete-api-destination", "--name", dest_name)
    assert berth.aws("events", "delete-connection", "--name", name)["ConnectionState"] == "DELETING"
    assert berth.aws("events", "list-connections", "--name-prefix", name)["Connections"] == []


def test_retries_follow_the_answer_and_the_retry_policy(berth, endpoint):
    events = berth.client("events")
    conn = basic_connection(events, unique("retry"), "pw-retry-123", "sig")["ConnectionArn"]
    base = f"/{unique('retry')}"
    flaky, bad, never = base + "/flaky", base + "/bad", base + "/never"
    endpoint.scripts[flaky] = [503, 503]
    endpoint.scripts[bad] = [400, 400, 400]
    endpoint.scripts[never] = [503] * 10

    def dest(path: str) -> str:
        return events.create_api_destination(
            Name=unique("d"), ConnectionArn=conn, InvocationEndpoint=endpoint.url(path), HttpMethod="POST",
        )["ApiDestinationArn"]

    source = unique("retry")
    rule = unique("retry")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=rule, Targets=[
        {"Id": "flaky", "Arn": dest(flaky), "RoleArn": ROLE},
        {"Id": "bad", "Arn": dest(bad), "RoleArn": ROLE},
        {"Id": "never", "Arn": dest(never), "RoleArn": ROLE, "RetryPolicy": {"MaximumRetryAttempts": 0}},
    ])
    put_event(events, source, {"try": 1})
    # Two 503s, then 200: the third try (after 1 s and 2 s pauses) delivers.
    poll("the third try", lambda: len(endpoint.to(flaky)) >= 3, 30)
    # By then a 400 or a policy of 0 retries would have been retried (their
    # first pause is 1 s): each was called once.
    assert len(endpoint.to(bad)) == 1
    assert len(endpoint.to(never)) == 1
    assert len(endpoint.to(flaky)) == 3


def test_rate_limit_spaces_the_calls(berth, endpoint):
    events = berth.client("events")
    conn = basic_connection(events, unique("rate"), "pw-rate-123", "sig")["ConnectionArn"]
    path = f"/{unique('rate')}"
    arn = events.create_api_destination(
        Name=unique("rate"), ConnectionArn=conn, InvocationEndpoint=endpoint.url(path), HttpMethod="POST",
        InvocationRateLimitPerSecond=2,
    )["ApiDestinationArn"]
    source = unique("rate")
    rule_with_target(events, source, {"Id": "r", "Arn": arn, "RoleArn": ROLE})
    events.put_events(Entries=[
        {"Source": source, "DetailType": "Tick", "Detail": json.dumps({"n": n})} for n in range(4)
    ])
    got = poll("four paced calls", lambda: (lambda r: r if len(r) >= 4 else None)(endpoint.to(path)), 20)
    times = [r["at"] for r in got]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(g >= 0.4 for g in gaps), gaps
    assert sorted(json.loads(r["body"])["detail"]["n"] for r in got) == [0, 1, 2, 3]


def test_bad_input_answers_as_eventbridge_does(berth, endpoint):
    events = berth.client("events")
    missing_conn = f"arn:aws:events:{REGION}:{ACCOUNT}:connection/nope/0000-1111"
    assert error(events.create_api_destination, Name=unique("d"), ConnectionArn=missing_conn,
                 InvocationEndpoint="https://hooks.example.com/x", HttpMethod="POST")[0] == "ResourceNotFoundException"
    assert error(events.create_api_destination, Name=unique("d"), ConnectionArn="arn:aws:events:x",
                 InvocationEndpoint="https://hooks.example.com/x", HttpMethod="POST")[0] == "ValidationException"
    assert error(events.describe_connection, Name=unique("none"))[0] == "ResourceNotFoundException"

    code, message = error(events.create_connection, Name=unique("oauth"), AuthorizationType="OAUTH_CLIENT_CREDENTIALS",
                          AuthParameters={"OAuthParameters": {
                              "ClientParameters": {"ClientID": "id", "ClientSecret": "s"},
                              "AuthorizationEndpoint": "https://auth.example.com/token", "HttpMethod": "POST"}})
    assert code == "ValidationException" and "OAuth" in message, message
    assert error(events.create_connection, Name=unique("half"), AuthorizationType="BASIC",
                 AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}})[0] == "ValidationException"

    name = unique("dup")
    conn = basic_connection(events, name, "pw-dup-123", "sig")["ConnectionArn"]
    assert error(events.create_connection, Name=name, AuthorizationType="API_KEY",
                 AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}})[0] \
        == "ResourceAlreadyExistsException"
    code, message = error(events.create_api_destination, Name=unique("d"), ConnectionArn=conn,
                          InvocationEndpoint="http://hooks.example.com/x", HttpMethod="POST")
    assert code == "ValidationException" and "https://" in message

    dest = events.create_api_destination(Name=unique("d"), ConnectionArn=conn,
                                         InvocationEndpoint=endpoint.url("/never-called"), HttpMethod="POST")
    arn = dest["ApiDestinationArn"]
    rule = unique("bad")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["bad.input"]}))
    code, message = error(events.put_targets, Rule=rule, Targets=[{"Id": "a", "Arn": arn}])
    assert code == "ValidationException" and "RoleArn" in message
    for policy in ({"MaximumRetryAttempts": 186}, {"MaximumRetryAttempts": -1}, {"MaximumEventAgeInSeconds": 59},
                   {"MaximumEventAgeInSeconds": 86401}):
        # Raw: botocore itself refuses values under the minimum.
        body = {"Rule": rule, "Targets": [{"Id": "a", "Arn": arn, "RoleArn": ROLE, "RetryPolicy": policy}]}
        r = berth.signed_request("AWSEvents.PutTargets", json.dumps(body), service="events")
        assert (r.status, r.code) == (400, "ValidationException"), (policy, r.text)
    code, _ = error(events.put_targets, Rule=rule, Targets=[{
        "Id": "a", "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:api-destination/nope/0000-1111", "RoleArn": ROLE}])
    assert code == "ResourceNotFoundException"
    code, _ = error(events.put_targets, Rule=rule, Targets=[{
        "Id": "a", "Arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:g", "HttpParameters": {"PathParameterValues": ["x"]}}])
    assert code == "ValidationException"
    assert events.list_targets_by_rule(Rule=rule)["Targets"] == []


def test_put_targets_needs_pass_role_on_the_target_role(berth):
    events = berth.client("events")
    conn = basic_connection(events, unique("pass"), "pw-pass-123", "sig")["ConnectionArn"]
    arn = events.create_api_destination(Name=unique("pass"), ConnectionArn=conn,
                                        InvocationEndpoint="https://hooks.example.com/x",
                                        HttpMethod="POST")["ApiDestinationArn"]
    rule = unique("pass")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["pass.role"]}))
    _, client = make_user(berth, [{"Effect": "Allow", "Action": "events:PutTargets", "Resource": "*"}])
    msg = denied(client("events").put_targets, Rule=rule, Targets=[{"Id": "a", "Arn": arn, "RoleArn": ROLE}])
    assert "iam:PassRole" in msg
    _, allowed = make_user(berth, [
        {"Effect": "Allow", "Action": "events:PutTargets", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE,
         "Condition": {"StringEquals": {"iam:PassedToService": "events.amazonaws.com"}}},
    ])
    assert allowed("events").put_targets(Rule=rule, Targets=[{"Id": "a", "Arn": arn, "RoleArn": ROLE}])[
        "FailedEntryCount"] == 0


def test_an_owed_call_is_made_after_a_kill_with_the_connection_still_sealed(fresh_berth, endpoint):
    events = fresh_berth.client("events")
    password = f"pw-{unique('kill')}"
    conn = basic_connection(events, unique("kill"), password, "sig")["ConnectionArn"]
    path = f"/{unique('kill')}"
    endpoint.scripts[path] = [503] * 1000
    arn = events.create_api_destination(Name=unique("kill"), ConnectionArn=conn,
                                        InvocationEndpoint=endpoint.url(path), HttpMethod="POST")["ApiDestinationArn"]
    source = unique("kill")
    rule_with_target(events, source, {"Id": "k", "Arn": arn, "RoleArn": ROLE})
    event_id = put_event(events, source, {"k": 1})
    poll("the first (refused) call", lambda: endpoint.to(path), 20)
    fresh_berth.restart(kill9=True)
    endpoint.scripts[path] = []  # from now on: 200
    poll("the call made after the restart", lambda: len(endpoint.to(path)) >= 2, 30)
    last = endpoint.to(path)[-1]
    assert json.loads(last["body"])["id"] == event_id
    assert last["headers"]["authorization"] == "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()
