"""CloudWatch metrics on its three protocols, against a shared `berth up`.

boto3 speaks rpcv2Cbor to CloudWatch, the aws CLI v1 pinned here the
protocol its botocore picks, and the raw requests below speak awsQuery
(a SigV4-signed form, XML back) and awsJson 1.0: one metric written by
one client is read back by the others.
"""

from __future__ import annotations

import datetime
import json
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from berthtest import AwsCliError, denied, make_user, unique

NS = "{http://monitoring.amazonaws.com/doc/2010-08-01/}"
TARGET = "GraniteServiceVersion20100801"


def minute_ago(n: int = 1) -> datetime.datetime:
    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    return now - datetime.timedelta(minutes=n)


def query(berth, params: dict) -> tuple[int, ET.Element]:
    body = urllib.parse.urlencode({"Version": "2010-08-01", **params})
    resp = berth.signed_request(
        None, body, service="monitoring", content_type="application/x-www-form-urlencoded; charset=utf-8"
    )
    return resp.status, ET.fromstring(resp.text)


def put_series(cw, namespace: str, name: str, dims: list, values: list[float], start: datetime.datetime):
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": name, "Dimensions": dims, "Timestamp": start + datetime.timedelta(minutes=i),
             "Value": v, "Unit": "Percent"}
            for i, v in enumerate(values)
        ],
    )


def test_put_and_read_back_on_every_protocol(berth):
    cw = berth.client("cloudwatch")
    namespace = unique("App")
    dims = [{"Name": "Service", "Value": "web"}]
    start = minute_ago(5)
    put_series(cw, namespace, "CPU", dims, [10.0, 20.0, 30.0], start)
    # Values with counts and a statistic set land in the same minute.
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "Latency", "Timestamp": start, "Values": [1.0, 2.0, 100.0], "Counts": [50, 45, 5]},
        {"MetricName": "Latency", "Timestamp": start, "StatisticValues":
            {"SampleCount": 2, "Sum": 6, "Minimum": 3, "Maximum": 3}},
    ])

    # boto3 (rpcv2Cbor): statistics per minute, timestamps back as datetimes.
    out = cw.get_metric_statistics(
        Namespace=namespace, MetricName="CPU", Dimensions=dims, StartTime=start,
        EndTime=start + datetime.timedelta(minutes=3), Period=60, Statistics=["Average", "SampleCount", "Maximum"],
    )
    points = sorted(out["Datapoints"], key=lambda d: d["Timestamp"])
    assert [p["Average"] for p in points] == [10.0, 20.0, 30.0]
    assert points[0]["Timestamp"] == start
    assert points[0]["Unit"] == "Percent" and points[0]["SampleCount"] == 1.0
    assert out["Label"] == "CPU"
    # Over one 3-minute period.
    out = cw.get_metric_statistics(
        Namespace=namespace, MetricName="CPU", Dimensions=dims, StartTime=start,
        EndTime=start + datetime.timedelta(minutes=3), Period=180, Statistics=["Sum", "Minimum"],
    )
    assert [(p["Sum"], p["Minimum"]) for p in out["Datapoints"]] == [(60.0, 10.0)]
    # Percentiles from the values and counts (the statistic set's 3s are known too).
    out = cw.get_metric_statistics(
        Namespace=namespace, MetricName="Latency", StartTime=start, EndTime=start + datetime.timedelta(minutes=1),
        Period=60, ExtendedStatistics=["p50", "p99"],
    )
    [p] = out["Datapoints"]
    assert p["ExtendedStatistics"] == {"p50": 2.0, "p99": 100.0}

    # The aws CLI.
    cli = berth.aws(
        "cloudwatch", "get-metric-statistics", "--namespace", namespace, "--metric-name", "CPU",
        "--dimensions", "Name=Service,Value=web", "--start-time", start.isoformat(),
        "--end-time", (start + datetime.timedelta(minutes=3)).isoformat(), "--period", "60",
        "--statistics", "Maximum",
    )
    assert sorted(p["Maximum"] for p in cli["Datapoints"]) == [10.0, 20.0, 30.0]
    listed = berth.aws("cloudwatch", "list-metrics", "--namespace", namespace)
    assert sorted(m["MetricName"] for m in listed["Metrics"]) == ["CPU", "Latency"]

    # awsQuery: a signed form, XML with <member> lists and ISO 8601 timestamps.
    status, xml = query(berth, {
        "Action": "GetMetricStatistics", "Namespace": namespace, "MetricName": "CPU",
        "Dimensions.member.1.Name": "Service", "Dimensions.member.1.Value": "web",
        "StartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "EndTime": (start + datetime.timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Period": "60", "Statistics.member.1": "Average",
    })
    assert status == 200, ET.tostring(xml)
    members = xml.findall(f"./{NS}GetMetricStatisticsResult/{NS}Datapoints/{NS}member")
    got = sorted((m.find(f"{NS}Timestamp").text, float(m.find(f"{NS}Average").text)) for m in members)
    assert got[0] == (start.strftime("%Y-%m-%dT%H:%M:%SZ"), 10.0)
    assert [v for _, v in got] == [10.0, 20.0, 30.0]
    # A datum written over awsQuery is read by boto3.
    status, xml = query(berth, {
        "Action": "PutMetricData", "Namespace": namespace,
        "MetricData.member.1.MetricName": "Queue", "MetricData.member.1.Value": "7",
        "MetricData.member.1.Timestamp": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "MetricData.member.1.Dimensions.member.1.Name": "Q", "MetricData.member.1.Dimensions.member.1.Value": "jobs",
    })
    assert status == 200 and xml.tag == f"{NS}PutMetricDataResponse"
    out = cw.list_metrics(Namespace=namespace, MetricName="Queue", Dimensions=[{"Name": "Q"}])
    assert out["Metrics"] == [{"Namespace": namespace, "MetricName": "Queue", "Dimensions": [{"Name": "Q", "Value": "jobs"}]}]

    # awsJson 1.0: epoch seconds.
    resp = berth.signed_request(
        f"{TARGET}.GetMetricStatistics",
        json.dumps({"Namespace": namespace, "MetricName": "Queue", "Dimensions": [{"Name": "Q", "Value": "jobs"}],
                    "StartTime": start.timestamp(), "EndTime": start.timestamp() + 60, "Period": 60,
                    "Statistics": ["Sum"]}),
        service="monitoring", content_type="application/x-amz-json-1.0",
    )
    assert resp.status == 200, resp.text
    assert resp.json["Datapoints"] == [{"Timestamp": int(start.timestamp()), "Sum": 7.0, "Unit": "None"}]


def test_get_metric_data_with_metric_math(berth):
    cw = berth.client("cloudwatch")
    namespace = unique("Math")
    start = minute_ago(6)
    put_series(cw, namespace, "A", [], [1.0, 2.0, 3.0, 4.0], start)
    put_series(cw, namespace, "B", [], [10.0, 10.0, 10.0, 10.0], start)
    end = start + datetime.timedelta(minutes=4)

    def stat(id_, name):
        return {"Id": id_, "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": name}, "Period": 60,
                                          "Stat": "Average"}, "ReturnData": False}

    out = cw.get_metric_data(
        MetricDataQueries=[
            stat("a", "A"), stat("b", "B"),
            {"Id": "total", "Expression": "SUM(METRICS())", "Label": "Total"},
            {"Id": "scaled", "Expression": "(a + b) * 2"},
            {"Id": "biggest", "Expression": "MAX([a, b]) - a"},
        ],
        StartTime=start, EndTime=end, ScanBy="TimestampAscending",
    )
    results = {r["Id"]: r for r in out["MetricDataResults"]}
    assert set(results) == {"total", "scaled", "biggest"}
    assert results["total"]["Values"] == [11.0, 12.0, 13.0, 14.0]
    assert results["total"]["Label"] == "Total" and results["total"]["StatusCode"] == "Complete"
    assert results["total"]["Timestamps"][0] == start
    assert results["scaled"]["Values"] == [22.0, 24.0, 26.0, 28.0]
    assert results["biggest"]["Values"] == [9.0, 8.0, 7.0, 6.0]

    # The CLI: newest first by default, paginated by MaxDatapoints.
    queries = json.dumps([{"Id": "a", "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": "A"},
                                                     "Period": 60, "Stat": "Sum"}}])
    out = berth.aws("cloudwatch", "get-metric-data", "--metric-data-queries", queries,
                    "--start-time", start.isoformat(), "--end-time", end.isoformat(), "--max-datapoints", "3",
                    "--no-paginate")
    [r] = out["MetricDataResults"]
    assert r["Values"] == [4.0, 3.0, 2.0] and r["StatusCode"] == "PartialData"
    assert "NextToken" in out
    out = cw.get_metric_data(MetricDataQueries=json.loads(queries), StartTime=start, EndTime=end,
                             MaxDatapoints=3, NextToken=out["NextToken"])
    assert out["MetricDataResults"][0]["Values"] == [1.0]
    assert "NextToken" not in out


def test_errors_as_cloudwatch_words_them(berth):
    cw = berth.client("cloudwatch")
    namespace = unique("Bad")

    def code_of(call, **kwargs):
        with pytest.raises(ClientError) as e:
            call(**kwargs)
        return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]

    code, msg = code_of(cw.put_metric_data, Namespace=namespace, MetricData=[{"MetricName": "m" * 256, "Value": 1}])
    assert code == "InvalidParameterValue"
    assert msg == "The parameter MetricData.member.1.MetricName must be shorter than 256 characters."
    # awsQuery-compatible: the modeled exception class, the shape as QueryErrorCode.
    with pytest.raises(cw.exceptions.InvalidParameterValueException) as e:
        cw.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "m" * 256, "Value": 1}])
    assert e.value.response["Error"]["QueryErrorCode"] == "InvalidParameterValueException"
    assert e.value.response["Error"]["Type"] == "Sender"

    # 1,001 datapoints (a body over 10 KiB: botocore sends it gzip-compressed).
    code, msg = code_of(cw.put_metric_data, Namespace=namespace,
                        MetricData=[{"MetricName": "m", "Value": i} for i in range(1001)])
    assert (code, msg) == ("InvalidParameterValue", "The collection MetricData must not have a size greater than 1000.")

    code, msg = code_of(cw.put_metric_data, Namespace="AWS/ECS", MetricData=[{"MetricName": "m", "Value": 1}])
    assert (code, msg) == ("InvalidParameterValue", "The value AWS/ECS for parameter Namespace is invalid.")

    start = minute_ago(10)
    code, msg = code_of(cw.get_metric_statistics, Namespace=namespace, MetricName="m", StartTime=start,
                        EndTime=start + datetime.timedelta(minutes=5), Period=90, Statistics=["Sum"])
    assert (code, msg) == ("InvalidParameterValue", "The parameter Period must be 1, 5, 10, 30, or a multiple of 60.")

    code, msg = code_of(cw.get_metric_statistics, Namespace=namespace, MetricName="m", StartTime=start,
                        EndTime=start + datetime.timedelta(days=2), Period=60, Statistics=["Sum"])
    assert code == "InvalidParameterCombination"
    assert msg.startswith("You have requested up to 2880 datapoints, which exceeds the limit of 1440.")

    code, msg = code_of(cw.get_metric_statistics, Namespace=namespace, MetricName="m", StartTime=start,
                        EndTime=start + datetime.timedelta(minutes=5), Period=60, ExtendedStatistics=["p101"])
    assert (code, msg) == ("InvalidParameterValue", "The value p101 for parameter ExtendedStatistics is not supported.")

    # An unknown statistic is outside the model's enum: the CLI and awsQuery see the same code.
    with pytest.raises(AwsCliError) as e:
        berth.aws("cloudwatch", "get-metric-statistics", "--namespace", namespace, "--metric-name", "m",
                  "--start-time", start.isoformat(), "--end-time", (start + datetime.timedelta(minutes=5)).isoformat(),
                  "--period", "60", "--statistics", "Median")
    assert e.value.code == "InvalidParameterValue"
    status, xml = query(berth, {
        "Action": "GetMetricStatistics", "Namespace": namespace, "MetricName": "m",
        "StartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "EndTime": (start + datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Period": "60", "Statistics.member.1": "Median",
    })
    assert status == 400
    assert xml.find(f"{NS}Error/{NS}Code").text == "InvalidParameterValue"
    assert xml.find(f"{NS}Error/{NS}Type").text == "Sender"

    code, msg = code_of(cw.get_metric_data, StartTime=start, EndTime=start + datetime.timedelta(minutes=5),
                        MetricDataQueries=[{"Id": "Bad", "Expression": "1"}])
    assert code == "ValidationError"
    assert msg == "The value Bad for parameter MetricDataQueries.member.1.Id is not matching the expected pattern ^[a-z][a-zA-Z0-9_]*$."


def test_list_metrics_recently_active(berth):
    cw = berth.client("cloudwatch")
    namespace = unique("Recent")
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "old", "Value": 1, "Timestamp": datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=5)},
        {"MetricName": "new", "Value": 1},
    ])
    everything = cw.list_metrics(Namespace=namespace)["Metrics"]
    assert sorted(m["MetricName"] for m in everything) == ["new", "old"]
    recent = cw.list_metrics(Namespace=namespace, RecentlyActive="PT3H")["Metrics"]
    assert [m["MetricName"] for m in recent] == ["new"]


def test_namespace_condition_key_on_every_protocol(berth):
    """`cloudwatch:PutMetricData` with `cloudwatch:namespace`, as AWS documents it; the reads on `*`."""
    allowed = unique("Allowed")
    _, client = make_user(berth, [
        {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
         "Condition": {"StringEquals": {"cloudwatch:namespace": allowed}}},
        {"Effect": "Allow", "Action": "cloudwatch:ListMetrics", "Resource": "*"},
    ])
    cw = client("cloudwatch")
    cw.put_metric_data(Namespace=allowed, MetricData=[{"MetricName": "m", "Value": 1}])
    message = denied(cw.put_metric_data, Namespace=unique("Other"), MetricData=[{"MetricName": "m", "Value": 1}])
    assert "cloudwatch:PutMetricData" in message
    assert [m["MetricName"] for m in cw.list_metrics(Namespace=allowed)["Metrics"]] == ["m"]
    message = denied(cw.get_metric_statistics, Namespace=allowed, MetricName="m", StartTime=minute_ago(5),
                     EndTime=minute_ago(0), Period=60, Statistics=["Sum"])
    assert "cloudwatch:GetMetricStatistics" in message


def test_high_resolution_seconds(berth):
    """StorageResolution 1: periods of 1, 5, 10 or 30 seconds read the per-second data."""
    cw = berth.client("cloudwatch")
    namespace = unique("HighRes")
    start = minute_ago(2)
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "m", "Timestamp": start + datetime.timedelta(seconds=s), "Value": float(s),
         "StorageResolution": 1}
        for s in range(10)
    ])
    out = cw.get_metric_statistics(Namespace=namespace, MetricName="m", StartTime=start,
                                   EndTime=start + datetime.timedelta(seconds=10), Period=5,
                                   Statistics=["Sum", "SampleCount"])
    got = sorted((p["Timestamp"], p["Sum"], p["SampleCount"]) for p in out["Datapoints"])
    assert got == [(start, 10.0, 5.0), (start + datetime.timedelta(seconds=5), 35.0, 5.0)]
    # The same data at one minute.
    out = cw.get_metric_statistics(Namespace=namespace, MetricName="m", StartTime=start,
                                   EndTime=start + datetime.timedelta(minutes=1), Period=60, Statistics=["Maximum"])
    assert [p["Maximum"] for p in out["Datapoints"]] == [9.0]


def test_compressed_put_metric_data(berth):
    """botocore gzips a PutMetricData body over 10 KiB (compression left on, its default): Berth reads it."""
    cw = berth.client("cloudwatch")
    sent = []
    cw.meta.events.register(
        "before-send.cloudwatch.PutMetricData",
        lambda request, **_: sent.append((request.headers.get("Content-Encoding"), len(request.body))),
    )
    namespace = unique("Gzip")
    start = minute_ago(3)
    data = [{"MetricName": "Bulk", "Dimensions": [{"Name": "Shard", "Value": f"shard-{i % 4}"}],
             "Timestamp": start, "Value": float(i), "Unit": "Count"} for i in range(1000)]
    cw.put_metric_data(Namespace=namespace, MetricData=data)
    encoding, size = sent[0]
    assert encoding in ("gzip", b"gzip"), sent
    assert size < 10 * 1024, "compressed on the wire"
    for shard in range(4):
        out = cw.get_metric_statistics(
            Namespace=namespace, MetricName="Bulk", Dimensions=[{"Name": "Shard", "Value": f"shard-{shard}"}],
            StartTime=start, EndTime=start + datetime.timedelta(minutes=1), Period=60,
            Statistics=["Sum", "SampleCount"],
        )
        [point] = out["Datapoints"]
        assert point["SampleCount"] == 250.0
        assert point["Sum"] == float(sum(range(shard, 1000, 4)))
        assert point["Unit"] == "Count"
