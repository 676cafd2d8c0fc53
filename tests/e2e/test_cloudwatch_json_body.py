"""PutMetricData over awsJson 1.0 read straight from its body (berth-metrics'
`body.rs`): what that reader takes is stored as the general path stored it
(escaped and unicode strings, exponent numbers, StatisticValues, Values with
Counts, StorageResolution 1, fractional epoch seconds), what it leaves gets
the general path's answer, unchanged (every error below is what the server
answered before the reader existed, but a timestamp's text, now read as
that time or refused as AWS refuses it), and the audit trail records the same
parameters — whole for a small input, truncated with the same size for a
batch of 1,000. Raw SigV4-signed requests (the JSON text is the subject);
the data are read back with boto3 (rpcv2Cbor) and the audit with CloudTrail
LookupEvents. The JS SDK v3's awsJson path is in test_cloudwatch_js.py.
"""

from __future__ import annotations

import json
import time

import pytest

from berthtest import poll, unique

TARGET = "GraniteServiceVersion20100801.PutMetricData"


def put(berth, body: str):
    return berth.signed_request(TARGET, body.encode(), service="monitoring",
                                content_type="application/x-amz-json-1.0")


def minute_ago(n: int) -> int:
    return (int(time.time()) // 60 - n) * 60


def stats(berth, namespace: str, name: str, dims: list[dict], start: int, end: int, period: int = 60) -> list[dict]:
    cw = berth.client("cloudwatch")
    out = cw.get_metric_statistics(Namespace=namespace, MetricName=name, Dimensions=dims, StartTime=start,
                                   EndTime=end, Period=period,
                                   Statistics=["SampleCount", "Sum", "Minimum", "Maximum"])["Datapoints"]
    return sorted(({"t": int(d["Timestamp"].timestamp()), "n": d["SampleCount"], "sum": d["Sum"],
                    "min": d["Minimum"], "max": d["Maximum"], "unit": d["Unit"]} for d in out),
                  key=lambda d: d["t"])


def test_what_the_reader_takes_is_stored_as_sent(berth):
    ns = unique("JsonBody") + "/\u00e9t\u00e9"
    t = minute_ago(5)
    # Escapes in the text: \u sequences, \/ and \" in names and dimension values.
    ns_text = json.dumps(ns)  # ASCII with \u escapes
    body = (
        '{"MetricData":['
        '{"MetricName":"lat\\u00e9ncy \\"p\\"","Dimensions":[{"Name":"h\\u00f4te","Value":"\\u65e5\\/1"}],'
        f'"Timestamp":{t}.75,"Value":1.5e3,"Unit":"Milliseconds"}},'
        '{"MetricName":"lat\\u00e9ncy \\"p\\"","Dimensions":[{"Name":"h\\u00f4te","Value":"\\u65e5\\/1"}],'
        f'"Timestamp":{t + 30},"Value":-2.5E-1,"Unit":"Milliseconds"}},'
        f'{{"MetricName":"stats","Timestamp":{t},"StatisticValues":{{"SampleCount":4,"Sum":10.0,"Minimum":1,"Maximum":4e0}},"Unit":"Count"}},'
        f'{{"MetricName":"dist","Timestamp":{t},"Values":[1,2.5,10],"Counts":[2,1,3e0]}},'
        f'{{"MetricName":"hires","Timestamp":{t + 7},"Value":3,"StorageResolution":1}}'
        f'],"Namespace":{ns_text}}}'
    )
    r = put(berth, body)
    assert r.status == 200, r.text
    dims = [{"Name": "h\u00f4te", "Value": "\u65e5/1"}]
    assert stats(berth, ns, 'lat\u00e9ncy "p"', dims, t, t + 60) == [
        {"t": t, "n": 2.0, "sum": 1499.75, "min": -0.25, "max": 1500.0, "unit": "Milliseconds"}]
    assert stats(berth, ns, "stats", [], t, t + 60) == [
        {"t": t, "n": 4.0, "sum": 10.0, "min": 1.0, "max": 4.0, "unit": "Count"}]
    assert stats(berth, ns, "dist", [], t, t + 60) == [
        {"t": t, "n": 6.0, "sum": 34.5, "min": 1.0, "max": 10.0, "unit": "None"}]
    # StorageResolution 1 keeps the second.
    assert stats(berth, ns, "hires", [], t + 7, t + 8, period=1) == [
        {"t": t + 7, "n": 1.0, "sum": 3.0, "min": 3.0, "max": 3.0, "unit": "None"}]
    listed = berth.client("cloudwatch").list_metrics(Namespace=ns)["Metrics"]
    assert sorted(m["MetricName"] for m in listed) == ["dist", "hires", 'lat\u00e9ncy "p"', "stats"]


def _errors():
    long = "x" * 256
    datum = '{"Namespace":"P","MetricData":[{%s}]}'
    unit_set = ("[Seconds, Microseconds, Milliseconds, Bytes, Kilobytes, Megabytes, Gigabytes, Terabytes, Bits, "
                "Kilobits, Megabits, Gigabits, Terabits, Percent, Count, Bytes/Second, Kilobytes/Second, "
                "Megabytes/Second, Gigabytes/Second, Terabytes/Second, Bits/Second, Kilobits/Second, "
                "Megabits/Second, Gigabits/Second, Terabits/Second, Count/Second, None]")
    return [
        (datum % '"MetricName":"m","Value":1,"Timestamp":"yesterday"', "SerializationException",
         "STRING_VALUE can not be converted to a Date"),
        (datum % '"MetricName":"m","Value":null', "MissingRequiredParameterException",
         "At least one of the parameters MetricData.member.1.Value, MetricData.member.1.StatisticValues or "
         "MetricData.member.1.Values must be specified."),
        (datum % '"MetricName":"m","Value":"1"', "SerializationException",
         "STRING_VALUE can not be converted to a Double"),
        (datum % '"MetricName":"m","Value":1,"Unit":"Parsecs"', "InvalidParameterValueException",
         f"1 validation error detected: Value 'Parsecs' at 'metricData.1.member.unit' failed to satisfy "
         f"constraint: Member must satisfy enum value set: {unit_set}"),
        ('{"Namespace":":P","MetricData":[{"MetricName":"m","Value":1}]}', "InvalidParameterValueException",
         "1 validation error detected: Value ':P' at 'namespace' failed to satisfy constraint: "
         "Member must satisfy regular expression pattern: [^:].*"),
        (datum % '"MetricName":"m","Value":1,"StorageResolution":1.0', "SerializationException",
         "NUMBER_VALUE can not be converted to an Integer"),
        (datum % '"MetricName":"m","Value":1,"StorageResolution":0', "InvalidParameterValueException",
         "The value 0 for parameter MetricData.member.1.StorageResolution is invalid. Valid values are 1 and 60."),
        (datum % f'"MetricName":"{long}","Value":1', "InvalidParameterValueException",
         "The parameter MetricData.member.1.MetricName must be shorter than 256 characters."),
        (datum % '"MetricName":"m","Dimensions":[{"Name":"n"}],"Value":1', "InvalidParameterValueException",
         "1 validation error detected: Value null at 'metricData.1.member.dimensions.1.member.value' failed "
         "to satisfy constraint: Member must not be null"),
        (datum % '"MetricName":"m","StatisticValues":{"Sum":1,"SampleCount":1,"Minimum":1}',
         "InvalidParameterValueException",
         "1 validation error detected: Value null at 'metricData.1.member.statisticValues.maximum' failed to "
         "satisfy constraint: Member must not be null"),
        ('{"Namespace":"P","MetricData":[{"MetricName":"m","Value":1}]} x', "SerializationException",
         "Request body is not valid JSON: trailing characters at line 1 column 63"),
        ("", "InvalidParameterValueException",
         "1 validation error detected: Value null at 'namespace' failed to satisfy constraint: "
         "Member must not be null"),
    ]


@pytest.mark.parametrize("case", range(12))
def test_what_the_reader_leaves_is_answered_as_before(berth, case):
    body, code, message = _errors()[case]
    r = put(berth, body)
    assert (r.status, r.code, r.message) == (400, code, message)


def _trail(berth, namespace: str) -> list[dict]:
    events = berth.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "PutMetricData"}], MaxResults=50)["Events"]
    docs = [json.loads(e["CloudTrailEvent"]) for e in events]
    return [d["requestParameters"] for d in docs if (d.get("requestParameters") or {}).get("Namespace") == namespace]


def test_the_audit_trail_records_the_same_parameters(berth):
    t = minute_ago(5)
    # Small: kept whole, cleaned of the member the model does not know and of nulls.
    small_ns = unique("JsonAudit")
    r = put(berth, '{"Namespace":"%s","MetricData":[{"MetricName":"m","Value":1,"Timestamp":%d,"Extra":5,'
                   '"Unit":null}]}' % (small_ns, t))
    assert r.status == 200, r.text
    assert poll("the small call's record", lambda: _trail(berth, small_ns), 10) == [
        {"Namespace": small_ns, "MetricData": [{"MetricName": "m", "Value": 1, "Timestamp": t}]}]
    # A batch of 1,000 (the reader's): the scalars, the list's length, the compact JSON's size.
    big_ns = unique("JsonAudit")
    data = [{"MetricName": "Load", "Dimensions": [{"Name": "Host", "Value": f"h{i % 4}"}], "Timestamp": t,
             "Value": i / 4, "Unit": "Percent"} for i in range(1000)]
    text = json.dumps({"Namespace": big_ns, "MetricData": data}, separators=(",", ":"))
    r = put(berth, text)
    assert r.status == 200, r.text
    assert poll("the batch's record", lambda: _trail(berth, big_ns), 10) == [
        {"Namespace": big_ns, "MetricDataCount": 1000, "berthTruncatedBytes": len(text)}]


def test_a_timestamp_given_as_text_is_read_as_that_time(berth):
    # Not what the SDKs send (epoch seconds), but a timestamp member's text —
    # ISO 8601 or epoch seconds — is read as that time, not refused with a
    # decoder's message.
    ns, t = unique("JsonText"), minute_ago(4)
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    body = ('{"Namespace":"%s","MetricData":[{"MetricName":"m","Value":2,"Timestamp":"%s"},'
            '{"MetricName":"m","Value":4,"Timestamp":"%d"}]}' % (ns, iso, t + 20))
    r = put(berth, body)
    assert r.status == 200, r.text
    assert stats(berth, ns, "m", [], t, t + 60) == [
        {"t": t, "n": 2.0, "sum": 6.0, "min": 2.0, "max": 4.0, "unit": "None"}]
