"""CloudWatch metric alarms, evaluated on schedule, against a `berth up` of
this module's own started with `--time-scale 60`: one alarm "minute" (its
periods and the evaluator's tick) lasts one second, so the M-of-N rule is
seen in seconds. Every wait polls the API for a condition with a deadline.

boto3 and the aws CLI v1 (botocore 1.44) speak rpcv2Cbor to CloudWatch;
raw SigV4-signed requests below speak awsQuery (a form, XML back) and
awsJson 1.0.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

import berthtest
from berthtest import AwsCliError, Berth, denied, make_user, unique

# Alarm minutes of one second.
SCALE = 60
DEADLINE = 60.0
POLICY = (
    "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:6d8972f3-efc8-437c-92d1-6270f29a66e7:"
    "resource/ecs/service/default/web:policyName/cpu-out"
)


@pytest.fixture(scope="module")
def berth(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-alarms")
    data = tmp / "data"
    data.mkdir()
    server = Berth(data_dir=data, log_path=tmp / "berth.log", extra_args=["--time-scale", str(SCALE)]).start()
    try:
        yield server
    finally:
        code = server.stop()
        assert code == 0, f"berth exited with {code}:\n{server.log_tail()}"


@pytest.fixture
def cw(berth):
    return berth.client("cloudwatch")


def poll(what: str, fn, deadline: float = DEADLINE):
    return berthtest.poll(what, fn, deadline)


class Producer:
    """Puts `value` into a metric every quarter second, as an application would, until stopped."""

    def __init__(self, cw, namespace: str, name: str, value: float):
        self.cw, self.namespace, self.name, self.value = cw, namespace, name, value
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.errors: list[Exception] = []

    def _run(self):
        while not self._stop.is_set():
            try:
                self.cw.put_metric_data(
                    Namespace=self.namespace, MetricData=[{"MetricName": self.name, "Value": self.value}]
                )
            except Exception as e:  # noqa: BLE001 (reported by stop())
                self.errors.append(e)
            self._stop.wait(0.25)  # the producer's own pace

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)
        assert not self.errors, self.errors


def alarm(cw, name: str) -> dict:
    found = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert len(found) == 1, found
    return found[0]


def in_state(cw, name: str, state: str):
    a = alarm(cw, name)
    return a if a["StateValue"] == state else None


def summaries(cw, name: str, kind: str) -> list[str]:
    items = cw.describe_alarm_history(AlarmName=name, HistoryItemType=kind, ScanBy="TimestampAscending")
    return [i["HistorySummary"] for i in items["AlarmHistoryItems"]]


def put_alarm(cw, name: str, namespace: str, metric: str, **extra):
    args = dict(
        AlarmName=name, Namespace=namespace, MetricName=metric, Statistic="Average", Period=60,
        EvaluationPeriods=3, Threshold=50.0, ComparisonOperator="GreaterThanThreshold",
    )
    args.update(extra)
    cw.put_metric_alarm(**args)


REASON = re.compile(
    r"^Threshold Crossed: 3 out of the last 3 datapoints \[80\.0 \(\d\d/\d\d/\d\d \d\d:\d\d:\d\d\), "
    r"80\.0 \(\d\d/\d\d/\d\d \d\d:\d\d:\d\d\), 80\.0 \(\d\d/\d\d/\d\d \d\d:\d\d:\d\d\)\] were greater than "
    r"the threshold \(50\.0\) \(minimum 3 datapoints for (INSUFFICIENT_DATA|OK) -> ALARM transition\)\.$"
)


def test_breaching_datapoints_raise_the_alarm_and_good_ones_clear_it(berth, cw):
    namespace, name = unique("App"), unique("cpu-high")
    # notBreaching: the first seconds of data (fewer than 3) count as good until 3 are in.
    put_alarm(cw, name, namespace, "CPU", AlarmDescription="CPU above half", TreatMissingData="notBreaching")
    created = alarm(cw, name)
    assert created["StateValue"] == "INSUFFICIENT_DATA"
    assert created["StateReason"] == "Unchecked: Initial alarm creation"
    assert created["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}"
    assert created["ActionsEnabled"] is True and created["AlarmActions"] == []
    assert "DatapointsToAlarm" not in created and created["TreatMissingData"] == "notBreaching"

    with Producer(cw, namespace, "CPU", 80.0):
        raised = poll(f"{name} in ALARM", lambda: in_state(cw, name, "ALARM"))
    assert REASON.match(raised["StateReason"]), raised["StateReason"]
    data = json.loads(raised["StateReasonData"])
    assert data["threshold"] == 50.0 and data["statistic"] == "Average" and data["period"] == 60
    assert data["recentDatapoints"] == [80.0, 80.0, 80.0]
    age = datetime.datetime.now(datetime.timezone.utc) - raised["StateUpdatedTimestamp"]
    assert datetime.timedelta(0) <= age < datetime.timedelta(seconds=DEADLINE)

    with Producer(cw, namespace, "CPU", 10.0):
        cleared = poll(f"{name} back to OK", lambda: in_state(cw, name, "OK"))
    # One good datapoint of the last three is enough to leave ALARM (N - M + 1): 10.0, or
    # the average of a second where the producers of 80.0 and of 10.0 both wrote.
    assert re.match(
        r"^Threshold Crossed: 1 out of the last 3 datapoints \[[0-9.]+ \([0-9/: ]+\)\] was not greater than the "
        r"threshold \(50\.0\) \(minimum 1 datapoint for ALARM -> OK transition\)\.$",
        cleared["StateReason"],
    ), cleared["StateReason"]

    assert summaries(cw, name, "StateUpdate") == [
        "Alarm updated from INSUFFICIENT_DATA to OK",
        "Alarm updated from OK to ALARM",
        "Alarm updated from ALARM to OK",
    ]
    # The aws CLI reads the same history, newest first.
    out = berth.aws("cloudwatch", "describe-alarm-history", "--alarm-name", name)
    items = out["AlarmHistoryItems"]
    assert items[0]["HistorySummary"] == "Alarm updated from ALARM to OK"
    assert items[-1]["HistorySummary"] == f'Alarm "{name}" created'
    assert items[-1]["HistoryItemType"] == "ConfigurationUpdate" and items[-1]["AlarmType"] == "MetricAlarm"
    new_state = json.loads(items[0]["HistoryData"])["newState"]
    assert new_state["stateValue"] == "OK"


def test_m_of_n_counts_two_breaching_datapoints_of_three(cw):
    namespace, two, three = unique("App"), unique("two-of-three"), unique("three-of-three")
    for name, m in ((two, 2), (three, 3)):
        put_alarm(cw, name, namespace, "Errors", DatapointsToAlarm=m, TreatMissingData="notBreaching")
    assert alarm(cw, two)["DatapointsToAlarm"] == 2
    # Three datapoints in three consecutive "minutes" (seconds) a little ahead: breaching, good, breaching.
    start = int(time.time()) + 2
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "Errors", "Timestamp": datetime.datetime.fromtimestamp(start + i, datetime.timezone.utc),
         "Value": v}
        for i, v in enumerate([90.0, 10.0, 90.0])
    ])
    poll(f"{two} in ALARM", lambda: "Alarm updated from OK to ALARM" in summaries(cw, two, "StateUpdate"))
    raised = [
        json.loads(i["HistoryData"])["newState"]["stateReason"]
        for i in cw.describe_alarm_history(AlarmName=two, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
        if i["HistorySummary"] == "Alarm updated from OK to ALARM"
    ]
    assert raised[0].startswith("Threshold Crossed: 2 out of the last 3 datapoints [90.0 ("), raised
    assert raised[0].endswith("(minimum 2 datapoints for OK -> ALARM transition)."), raised
    # Once the datapoints have left the range, the 2-of-3 alarm is back to OK; 3 of 3 never alarmed.
    poll(f"{two} back to OK", lambda: "Alarm updated from ALARM to OK" in summaries(cw, two, "StateUpdate"))
    assert summaries(cw, three, "StateUpdate") == ["Alarm updated from INSUFFICIENT_DATA to OK"]


def test_missing_data_is_treated_as_configured(cw):
    namespace = unique("Quiet")
    breaching, good, missing = unique("a-breaching"), unique("b-good"), unique("c-missing")
    put_alarm(cw, breaching, namespace, "Nothing", TreatMissingData="breaching")
    put_alarm(cw, good, namespace, "Nothing", TreatMissingData="notBreaching")
    put_alarm(cw, missing, namespace, "Nothing")
    raised = poll("breaching in ALARM", lambda: in_state(cw, breaching, "ALARM"))
    assert raised["StateReason"] == (
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints were treated as "
        "[Breaching]."
    )
    ok = poll("notBreaching in OK", lambda: in_state(cw, good, "OK"))
    assert ok["StateReason"].endswith("missing datapoints were treated as [NonBreaching].")
    # `missing`: set to OK by hand, the next evaluation finds no data at all.
    cw.set_alarm_state(AlarmName=missing, StateValue="OK", StateReason="checked by hand")
    assert alarm(cw, missing)["StateReason"] == "checked by hand"
    back = poll("missing in INSUFFICIENT_DATA", lambda: in_state(cw, missing, "INSUFFICIENT_DATA"))
    assert back["StateReason"] == "Insufficient Data: 5 datapoints were unknown."


def test_ignore_keeps_the_state_set_by_hand(cw):
    namespace = unique("Quiet")
    ignored, witness = unique("a-ignore"), unique("z-witness")
    put_alarm(cw, ignored, namespace, "Nothing", TreatMissingData="ignore")
    cw.set_alarm_state(AlarmName=ignored, StateValue="ALARM", StateReason="paged by hand",
                       StateReasonData=json.dumps({"by": "test"}))
    # The evaluator goes through the alarms by name in one pass: once the
    # witness (after the ignored one) has changed, the ignored one was evaluated.
    put_alarm(cw, witness, namespace, "Nothing", TreatMissingData="breaching")
    poll("the witness in ALARM", lambda: in_state(cw, witness, "ALARM"))
    kept = alarm(cw, ignored)
    assert (kept["StateValue"], kept["StateReason"]) == ("ALARM", "paged by hand")
    assert json.loads(kept["StateReasonData"]) == {"by": "test"}
    assert summaries(cw, ignored, "StateUpdate") == ["Alarm updated from INSUFFICIENT_DATA to ALARM"]


def test_actions_are_stored_run_and_recorded(cw):
    namespace, name = unique("App"), unique("scale-out")
    put_alarm(cw, name, namespace, "Nothing", TreatMissingData="breaching", AlarmActions=[POLICY])
    assert alarm(cw, name)["AlarmActions"] == [POLICY]
    poll(f"{name}'s action in its history", lambda: summaries(cw, name, "Action"))
    action = summaries(cw, name, "Action")[0]
    # Berth has no Application Auto Scaling yet: the action fails, and says so.
    assert action.startswith(f"Failed to execute action {POLICY}. Received error: "), action
    assert [a["AlarmName"] for a in cw.describe_alarms(ActionPrefix=POLICY[:40])["MetricAlarms"]] == [name]
    cw.disable_alarm_actions(AlarmNames=[name])
    assert alarm(cw, name)["ActionsEnabled"] is False
    cw.enable_alarm_actions(AlarmNames=[name])
    assert alarm(cw, name)["ActionsEnabled"] is True


def test_describe_filters_pages_tags_and_deletes(berth, cw):
    prefix = unique("page")
    namespace = unique("App")
    names = [f"{prefix}-{i}" for i in range(3)]
    for n in names:
        put_alarm(cw, n, namespace, "Latency", Dimensions=[{"Name": "Service", "Value": "web"}],
                  Tags=[{"Key": "team", "Value": "blue"}])
    first = cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=2)
    assert [a["AlarmName"] for a in first["MetricAlarms"]] == names[:2] and first["CompositeAlarms"] == []
    rest = cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=2, NextToken=first["NextToken"])
    assert [a["AlarmName"] for a in rest["MetricAlarms"]] == names[2:] and "NextToken" not in rest
    assert cw.describe_alarms(AlarmNamePrefix=prefix, AlarmTypes=["CompositeAlarm"])["MetricAlarms"] == []
    assert cw.describe_alarms(ChildrenOfAlarmName=names[0])["MetricAlarms"] == []
    for_metric = cw.describe_alarms_for_metric(
        Namespace=namespace, MetricName="Latency", Dimensions=[{"Name": "Service", "Value": "web"}]
    )
    assert sorted(a["AlarmName"] for a in for_metric["MetricAlarms"]) == names
    assert cw.describe_alarms_for_metric(Namespace=namespace, MetricName="Latency")["MetricAlarms"] == []
    arn = alarm(cw, names[0])["AlarmArn"]
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "blue"}]
    cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "tier", "Value": "web"}])
    cw.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "tier", "Value": "web"}]
    # The aws CLI: the same alarms, with their timestamps.
    out = berth.aws("cloudwatch", "describe-alarms", "--alarm-name-prefix", prefix)
    assert [a["AlarmName"] for a in out["MetricAlarms"]] == names
    assert out["MetricAlarms"][0]["Dimensions"] == [{"Name": "Service", "Value": "web"}]
    # The CLI v1 shows timestamps as they come on the wire (epoch seconds).
    updated = out["MetricAlarms"][0]["AlarmConfigurationUpdatedTimestamp"]
    assert abs(float(updated) - time.time()) < DEADLINE, updated
    # One unknown name: nothing is deleted.
    with pytest.raises(ClientError) as e:
        cw.delete_alarms(AlarmNames=[names[0], unique("nope")])
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"
    assert len(cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]) == 3
    berth.aws("cloudwatch", "delete-alarms", "--alarm-names", *names)
    assert cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"] == []
    # The history outlives the alarm.
    assert summaries(cw, names[0], "ConfigurationUpdate") == [
        f'Alarm "{names[0]}" created', f'Alarm "{names[0]}" deleted'
    ]
    with pytest.raises(ClientError) as e:
        cw.list_tags_for_resource(ResourceARN=arn)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_metric_math_alarm(cw):
    namespace, name = unique("App"), unique("error-rate")
    # Both counts in one call: the server stamps one request with one time, so a period boundary
    # (one second under --time-scale) never falls between a request count and its error count.
    put_both = lambda: cw.put_metric_data(  # noqa: E731
        Namespace=namespace,
        MetricData=[{"MetricName": "Requests", "Value": 100.0}, {"MetricName": "Errors", "Value": 25.0}],
    )
    cw.put_metric_alarm(
        AlarmName=name, EvaluationPeriods=2, Threshold=10.0, ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        Metrics=[
            {"Id": "errors", "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": "Errors"},
                                            "Period": 60, "Stat": "Sum"}, "ReturnData": False},
            {"Id": "requests", "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": "Requests"},
                                              "Period": 60, "Stat": "Sum"}, "ReturnData": False},
            {"Id": "rate", "Expression": "100 * errors / requests", "Label": "error %", "ReturnData": True},
        ],
    )
    stored = alarm(cw, name)
    assert [m["Id"] for m in stored["Metrics"]] == ["errors", "requests", "rate"] and "MetricName" not in stored
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            put_both()
            stop.wait(0.25)  # the producer's own pace

    t = threading.Thread(target=traffic, daemon=True)
    t.start()
    try:
        raised = poll(f"{name} in ALARM", lambda: in_state(cw, name, "ALARM"))
    finally:
        stop.set()
        t.join(timeout=10)
    assert re.match(
        r"^Threshold Crossed: 2 out of the last 2 datapoints \[25\.0 \([0-9/: ]+\), 25\.0 \([0-9/: ]+\)\] were greater "
        r"than or equal to the threshold \(10\.0\) \(minimum 2 datapoints for OK -> ALARM transition\)\.$",
        raised["StateReason"],
    ), raised["StateReason"]


def bad(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    e = err.value.response["Error"]
    return e["Code"], e["Message"]


def test_bad_input_answers_cloudwatchs_errors(berth):
    # No client-side checks: Berth answers what the model forbids (EvaluationPeriods 0).
    cw = berth.client("cloudwatch", parameter_validation=False)
    base = dict(
        AlarmName=unique("bad"), Namespace="App", MetricName="CPU", Statistic="Average", Period=60,
        EvaluationPeriods=3, Threshold=50.0, ComparisonOperator="GreaterThanThreshold",
    )
    code, msg = bad(cw.put_metric_alarm, **{**base, "Period": 45})
    assert (code, msg) == ("ValidationError", "The parameter Period must be 10, 30 or a multiple of 60 (got 45).")
    code, msg = bad(cw.put_metric_alarm, **{**base, "EvaluationPeriods": 0})
    assert code == "InvalidParameterValue" and "evaluationperiods" in msg.lower() and "greater than or equal to 1" in msg
    code, msg = bad(cw.put_metric_alarm, **{**base, "ComparisonOperator": "BiggerThan"})
    assert code == "InvalidParameterValue" and "comparisonoperator" in msg.lower() and "GreaterThanThreshold" in msg, msg
    code, msg = bad(cw.put_metric_alarm, **{**base, "ExtendedStatistic": "p99"})
    assert code == "InvalidParameterCombination" and "mutually exclusive" in msg
    code, msg = bad(cw.put_metric_alarm, **{**base, "DatapointsToAlarm": 4})
    assert code == "ValidationError" and "DatapointsToAlarm (4)" in msg
    code, msg = bad(cw.put_metric_alarm, **{**base, "AlarmActions": ["arn:aws:sns:us-east-1:000000000000:ops"]})
    assert code == "InvalidParameterValue" and "is not supported" in msg
    code, msg = bad(cw.put_metric_alarm, **{**base, "ComparisonOperator": "GreaterThanUpperThreshold"})
    assert code == "InvalidParameterValue" and "anomaly detection" in msg
    # Nothing was stored by the refusals.
    assert cw.describe_alarms(AlarmNames=[base["AlarmName"]])["MetricAlarms"] == []
    code, msg = bad(cw.set_alarm_state, AlarmName=unique("nope"), StateValue="OK", StateReason="x")
    assert code == "ResourceNotFound"
    cw.put_metric_alarm(**base)
    code, _ = bad(cw.set_alarm_state, AlarmName=base["AlarmName"], StateValue="OK", StateReason="x",
                  StateReasonData="{not json")
    assert code == "InvalidFormat"
    # The aws CLI gets the same code.
    with pytest.raises(AwsCliError) as e:
        berth.aws("cloudwatch", "put-metric-alarm", "--alarm-name", unique("bad"), "--namespace", "App",
                  "--metric-name", "CPU", "--statistic", "Average", "--extended-statistic", "p90", "--period", "60",
                  "--evaluation-periods", "1", "--threshold", "1", "--comparison-operator", "GreaterThanThreshold")
    assert e.value.code == "InvalidParameterCombination", e.value


def test_alarms_are_authorized_on_their_arns(berth):
    allowed = unique("team")
    _, client = make_user(berth, [{
        "Effect": "Allow",
        "Action": ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms"],
        "Resource": f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{allowed}-*",
    }])
    cw = client("cloudwatch")
    base = dict(Namespace="App", MetricName="CPU", Statistic="Average", Period=60, EvaluationPeriods=1,
                Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    cw.put_metric_alarm(AlarmName=f"{allowed}-cpu", **base)
    assert [a["AlarmName"] for a in cw.describe_alarms(AlarmNames=[f"{allowed}-cpu"])["MetricAlarms"]] == [
        f"{allowed}-cpu"
    ]
    message = denied(cw.put_metric_alarm, AlarmName=unique("other"), **base)
    assert "cloudwatch:PutMetricAlarm" in message
    # Listing every alarm is authorized on alarm:*.
    denied(cw.describe_alarms)


def test_alarms_and_their_evaluation_survive_a_restart(berth):
    cw = berth.client("cloudwatch")
    name = unique("durable")
    put_alarm(cw, name, unique("Quiet"), "Nothing", TreatMissingData="breaching")
    poll(f"{name} in ALARM", lambda: in_state(cw, name, "ALARM"))
    berth.restart(kill9=True)
    cw = berth.client("cloudwatch")
    assert alarm(cw, name)["StateValue"] == "ALARM"
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="after the restart")
    poll(f"{name} back in ALARM", lambda: in_state(cw, name, "ALARM"))
    assert summaries(cw, name, "StateUpdate") == [
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
        "Alarm updated from ALARM to OK",
        "Alarm updated from OK to ALARM",
    ]


NS = "{http://monitoring.amazonaws.com/doc/2010-08-01/}"
TARGET = "GraniteServiceVersion20100801"


def query(berth, params: dict) -> tuple[int, ET.Element]:
    body = urllib.parse.urlencode({"Version": "2010-08-01", **params})
    resp = berth.signed_request(
        None, body, service="monitoring", content_type="application/x-www-form-urlencoded; charset=utf-8"
    )
    return resp.status, ET.fromstring(resp.text)


def test_alarms_over_awsquery_and_awsjson(berth):
    name, namespace = unique("query-alarm"), unique("App")
    status, xml = query(berth, {
        "Action": "PutMetricAlarm", "AlarmName": name, "Namespace": namespace, "MetricName": "Latency",
        "Dimensions.member.1.Name": "Service", "Dimensions.member.1.Value": "web", "ExtendedStatistic": "p99",
        "Period": "60", "EvaluationPeriods": "2", "DatapointsToAlarm": "1", "Threshold": "0.5",
        "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "breaching",
        "Tags.member.1.Key": "team", "Tags.member.1.Value": "blue",
    })
    assert status == 200 and xml.tag == f"{NS}PutMetricAlarmResponse", ET.tostring(xml)
    status, xml = query(berth, {"Action": "DescribeAlarms", "AlarmNames.member.1": name})
    assert status == 200, ET.tostring(xml)
    member = xml.find(f"./{NS}DescribeAlarmsResult/{NS}MetricAlarms/{NS}member")
    assert member.find(f"{NS}AlarmName").text == name
    assert member.find(f"{NS}ExtendedStatistic").text == "p99"
    assert member.find(f"{NS}Threshold").text in ("0.5", "0.50")
    assert member.find(f"{NS}Dimensions/{NS}member/{NS}Value").text == "web"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", member.find(f"{NS}StateUpdatedTimestamp").text)
    # A model constraint and a rule between members, in the query form.
    status, xml = query(berth, {
        "Action": "PutMetricAlarm", "AlarmName": unique("bad"), "Namespace": namespace, "MetricName": "Latency",
        "Statistic": "Average", "Period": "45", "EvaluationPeriods": "1", "Threshold": "1",
        "ComparisonOperator": "GreaterThanThreshold",
    })
    assert status == 400 and xml.find(f"{NS}Error/{NS}Code").text == "ValidationError", ET.tostring(xml)

    # awsJson 1.0: the history, timestamps as epoch seconds.
    poll(f"{name} in ALARM", lambda: in_state(berth.client("cloudwatch"), name, "ALARM"))
    resp = berth.signed_request(
        f"{TARGET}.DescribeAlarmHistory", json.dumps({"AlarmName": name, "HistoryItemType": "StateUpdate"}),
        service="monitoring", content_type="application/x-amz-json-1.0",
    )
    assert resp.status == 200, resp.text
    item = resp.json["AlarmHistoryItems"][0]
    assert item["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"
    assert abs(item["Timestamp"] - time.time()) < DEADLINE
    resp = berth.signed_request(
        f"{TARGET}.SetAlarmState", json.dumps({"AlarmName": unique("nope"), "StateValue": "OK", "StateReason": "x"}),
        service="monitoring", content_type="application/x-amz-json-1.0",
    )
    assert resp.status == 404 and resp.headers["x-amzn-query-error"].startswith("ResourceNotFound;"), resp.text
