"""CloudWatch metrics through the AWS SDK for JavaScript v3 (awsJson 1.0),
against the shared `berth up`: PutMetricData, then GetMetricStatistics and
an error. The SDK is installed by .ci/run into BERTH_JS_SDK_DIR (a cache dir
outside the clone); without it (no npm) the test is skipped and says why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from berthtest import isolate_aws_environment, unique

SCRIPT = Path(__file__).parent / "js" / "cloudwatch.mjs"
SDK_DIR = Path(os.environ.get("BERTH_JS_SDK_DIR") or Path.home() / ".cache" / "berth" / "js-sdk")


def test_js_sdk_v3_puts_and_reads_metrics(berth):
    if not shutil.which("node") or not (SDK_DIR / "node_modules" / "@aws-sdk" / "client-cloudwatch").is_dir():
        pytest.skip(f"the AWS SDK for JavaScript v3 is not installed in {SDK_DIR} (.ci/run installs it with npm)")
    namespace = unique("Js")
    env = isolate_aws_environment(dict(os.environ))
    env["BERTH_JS_SDK_DIR"] = str(SDK_DIR)
    p = subprocess.run(["node", str(SCRIPT), berth.endpoint, namespace], env=env, capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["datapoints"] == [
        {"t": 0, "sum": 10.0, "n": 1.0, "unit": "Count"},
        {"t": 60000, "sum": 20.0, "n": 1.0, "unit": "Count"},
        {"t": 120000, "sum": 30.0, "n": 1.0, "unit": "Count"},
    ]
    assert out["bad"] == "InvalidParameterValueException: The parameter Period must be 1, 5, 10, 30, or a multiple of 60."
    # The metric the JS SDK wrote is the one boto3 (rpcv2Cbor) lists.
    listed = berth.client("cloudwatch").list_metrics(Namespace=namespace)["Metrics"]
    assert [m["MetricName"] for m in listed] == ["Requests"]


def test_js_sdk_v3_statistic_sets_distributions_batches_and_errors(berth):
    """The JS SDK v3's awsJson bodies as berth-metrics' body reader takes them (an
    exponent value, unicode and quotes in a dimension, StatisticValues, Values with
    Counts, StorageResolution 1, a batch of 1,000), and the errors of a name over
    255 characters and of 1,001 datums."""
    if not shutil.which("node") or not (SDK_DIR / "node_modules" / "@aws-sdk" / "client-cloudwatch").is_dir():
        pytest.skip(f"the AWS SDK for JavaScript v3 is not installed in {SDK_DIR} (.ci/run installs it with npm)")
    namespace = unique("JsBatch")
    env = isolate_aws_environment(dict(os.environ))
    env["BERTH_JS_SDK_DIR"] = str(SDK_DIR)
    p = subprocess.run(["node", str(SCRIPT.parent / "cloudwatch_batch.mjs"), berth.endpoint, namespace], env=env,
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["tiny"] == [{"t": 0, "n": 1.0, "sum": 1.5e-7, "min": 1.5e-7, "max": 1.5e-7, "unit": "None"}]
    assert out["stats"] == [{"t": 0, "n": 4.0, "sum": 10.0, "min": 1.0, "max": 4.0, "unit": "Count"}]
    assert out["dist"] == [{"t": 0, "n": 6.0, "sum": 34.5, "min": 1.0, "max": 10.0, "unit": "None"}]
    assert out["hires"] == [{"t": 7000, "n": 1.0, "sum": 3.0, "min": 3.0, "max": 3.0, "unit": "None"}]
    # Datum i went to metric k = i % 4 with the value i % 50.
    for k, points in enumerate(out["batch"]):
        values = [i % 50 for i in range(1000) if i % 4 == k]
        assert points == [{"t": 60000, "n": 250.0, "sum": float(sum(values)), "min": float(min(values)),
                           "max": float(max(values)), "unit": "Percent"}]
    assert out["long_name"] == ("InvalidParameterValueException: The parameter MetricData.member.1.MetricName "
                                "must be shorter than 256 characters.")
    assert out["too_many"] == ("InvalidParameterValueException: The collection MetricData must not have a size "
                               "greater than 1000.")
