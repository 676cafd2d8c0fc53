// The AWS SDK for JavaScript v3's CloudWatch client the e2e scripts share:
// loaded from BERTH_JS_SDK_DIR (node_modules/@aws-sdk/client-cloudwatch,
// installed there by .ci/run), pointed at the ENDPOINT of the command line
// with test credentials and no retries. NAMESPACE is the second argument.
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.env.BERTH_JS_SDK_DIR, "index.js"));
export const { CloudWatchClient, PutMetricDataCommand, GetMetricStatisticsCommand } = require("@aws-sdk/client-cloudwatch");

export const [endpoint, namespace] = process.argv.slice(2);
export const client = new CloudWatchClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
  maxAttempts: 1,
});
