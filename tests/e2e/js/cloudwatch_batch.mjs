// PutMetricData's less common forms and a batch of 1,000 with the AWS SDK for
// JavaScript v3 (awsJson 1.0), then the errors of a name over 255 characters
// and of 1,001 datums; prints the statistics read back and the errors as JSON.
// Usage: BERTH_JS_SDK_DIR=DIR node cloudwatch_batch.mjs ENDPOINT NAMESPACE.
import { client, namespace, PutMetricDataCommand, GetMetricStatisticsCommand } from "./cloudwatch_client.mjs";

const minute = Math.floor(Date.now() / 60000) * 60000 - 5 * 60000;
const dims = [{ Name: "h\u00f4te", Value: "\u65e5 \"1\"" }];
await client.send(new PutMetricDataCommand({
  Namespace: namespace,
  MetricData: [
    { MetricName: "tiny", Dimensions: dims, Timestamp: new Date(minute + 500), Value: 1.5e-7 },
    { MetricName: "stats", Timestamp: new Date(minute), Unit: "Count",
      StatisticValues: { SampleCount: 4, Sum: 10, Minimum: 1, Maximum: 4 } },
    { MetricName: "dist", Timestamp: new Date(minute), Values: [1, 2.5, 10], Counts: [2, 1, 3] },
    { MetricName: "hires", Timestamp: new Date(minute + 7000), Value: 3, StorageResolution: 1 },
  ],
}));
// The bench's shape: 1,000 datums, 4 metrics × 250 values.
const batch = [];
for (let i = 0; i < 1000; i++) {
  batch.push({ MetricName: "batch", Dimensions: [{ Name: "k", Value: `k${i % 4}` }],
    Timestamp: new Date(minute + 60000 + (i % 60) * 1000), Value: i % 50, Unit: "Percent" });
}
await client.send(new PutMetricDataCommand({ Namespace: namespace, MetricData: batch }));

const stat = async (name, d, start, end, period) => {
  const out = await client.send(new GetMetricStatisticsCommand({
    Namespace: namespace, MetricName: name, Dimensions: d, StartTime: new Date(start), EndTime: new Date(end),
    Period: period, Statistics: ["SampleCount", "Sum", "Minimum", "Maximum"],
  }));
  return out.Datapoints.map((p) => ({ t: p.Timestamp.getTime() - minute, n: p.SampleCount, sum: p.Sum,
    min: p.Minimum, max: p.Maximum, unit: p.Unit })).sort((a, b) => a.t - b.t);
};
const batchSums = [];
for (let k = 0; k < 4; k++) {
  batchSums.push(await stat("batch", [{ Name: "k", Value: `k${k}` }], minute + 60000, minute + 120000, 60));
}
const error = async (data) => {
  try {
    await client.send(new PutMetricDataCommand({ Namespace: namespace, MetricData: data }));
    return "";
  } catch (e) {
    return `${e.name}: ${e.message}`;
  }
};
console.log(JSON.stringify({
  tiny: await stat("tiny", dims, minute, minute + 60000, 60),
  stats: await stat("stats", [], minute, minute + 60000, 60),
  dist: await stat("dist", [], minute, minute + 60000, 60),
  hires: await stat("hires", [], minute + 7000, minute + 8000, 1),
  batch: batchSums,
  long_name: await error([{ MetricName: "x".repeat(256), Value: 1 }]),
  too_many: await error(Array.from({ length: 1001 }, () => ({ MetricName: "m", Value: 1 }))),
}));
