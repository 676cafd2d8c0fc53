// PutMetricData then GetMetricStatistics with the AWS SDK for JavaScript v3
// (awsJson 1.0), against the endpoint given; prints the datapoints as JSON.
// Usage: BERTH_JS_SDK_DIR=DIR node cloudwatch.mjs ENDPOINT NAMESPACE, DIR holding
// node_modules/@aws-sdk/client-cloudwatch (.ci/run installs it there).
import { client, namespace, PutMetricDataCommand, GetMetricStatisticsCommand } from "./cloudwatch_client.mjs";

const minute = Math.floor(Date.now() / 60000) * 60000 - 3 * 60000;
await client.send(new PutMetricDataCommand({
  Namespace: namespace,
  MetricData: [0, 1, 2].map((i) => ({
    MetricName: "Requests",
    Dimensions: [{ Name: "Service", Value: "web" }],
    Timestamp: new Date(minute + i * 60000),
    Value: 10 * (i + 1),
    Unit: "Count",
  })),
}));
const out = await client.send(new GetMetricStatisticsCommand({
  Namespace: namespace,
  MetricName: "Requests",
  Dimensions: [{ Name: "Service", Value: "web" }],
  StartTime: new Date(minute),
  EndTime: new Date(minute + 3 * 60000),
  Period: 60,
  Statistics: ["Sum", "SampleCount"],
}));
let bad = "";
try {
  await client.send(new GetMetricStatisticsCommand({
    Namespace: namespace, MetricName: "Requests", StartTime: new Date(minute),
    EndTime: new Date(minute + 60000), Period: 45, Statistics: ["Sum"],
  }));
} catch (e) {
  bad = `${e.name}: ${e.message}`;
}
console.log(JSON.stringify({
  datapoints: out.Datapoints.map((d) => ({ t: d.Timestamp.getTime() - minute, sum: d.Sum, n: d.SampleCount, unit: d.Unit }))
    .sort((a, b) => a.t - b.t),
  bad,
}));
