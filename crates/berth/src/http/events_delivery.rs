//! EventBridge's targets as Berth delivers to them: a CloudWatch Logs log
//! group of the region (its ARN `arn:aws:logs:REGION:ACCOUNT:log-group:NAME`),
//! each event one log event in a log stream named after the event id, its
//! timestamp the event's time; and the HTTP calls of API destinations
//! (built by `berth_events::http_target`), made with a 5-second timeout and
//! no redirect followed. Connection secrets are sealed by the region's KMS
//! ([`KmsSealer`]) under the AWS managed key `aws/secretsmanager`, as the
//! Secrets Manager secret EventBridge keeps them in.

use async_trait::async_trait;
use berth_events::http_target::{Answer, HttpCall, TIMEOUT};
use berth_events::records::Delivery;
use berth_proto::AwsError;
use std::collections::BTreeMap;

pub(crate) struct EventTargets {
    pub(crate) logs: berth_logs::Logs,
    pub(crate) region: String,
    pub(crate) account: String,
    pub(crate) http: reqwest::Client,
}

impl EventTargets {
    pub(crate) fn new(logs: berth_logs::Logs, region: &str, account: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Amazon/EventBridge/ApiDestinations")
            .build()?;
        Ok(Self {
            logs,
            region: region.to_string(),
            account: account.to_string(),
            http,
        })
    }
}

#[async_trait]
impl berth_events::Deliver for EventTargets {
    async fn deliver(&self, d: &Delivery) -> Result<(), String> {
        let Some(group) = berth_events::targets::log_group_of(&d.target_arn, &self.region, &self.account) else {
            return Err(format!("{} is not a log group of this region", d.target_arn));
        };
        self.logs
            .deliver(group, &d.event_id, d.time_ms, d.message.clone())
            .await
            .map_err(|e| format!("{}: {}", e.code, e.message))
    }

    async fn call(&self, call: &HttpCall) -> Answer {
        let method = reqwest::Method::from_bytes(call.method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = self.http.request(method, &call.url);
        for (k, v) in &call.headers {
            req = req.header(k, v);
        }
        if let Some(body) = &call.body {
            req = req.body(body.clone());
        }
        match req.send().await {
            Ok(resp) => Ok(resp.status().as_u16()),
            // Without the URL: its query may carry a connection's secret parameter.
            Err(e) if e.is_timeout() => Err("the endpoint did not answer within 5 seconds".to_string()),
            Err(e) if e.is_connect() => Err("could not connect to the endpoint".to_string()),
            Err(e) => Err(format!("the call failed: {}", e.without_url())),
        }
    }
}

/// The AWS managed key connection secrets are sealed under.
const SECRETS_ALIAS: &str = "alias/aws/secretsmanager";

pub(crate) struct KmsSealer {
    pub(crate) kms: berth_secrets::Kms,
}

#[async_trait]
impl berth_events::SecretSealer for KmsSealer {
    async fn seal(&self, plaintext: &[u8], context: &BTreeMap<String, String>) -> Result<Vec<u8>, AwsError> {
        Ok(self
            .kms
            .encrypt_internal(None, SECRETS_ALIAS, plaintext, context)
            .await?
            .0)
    }

    async fn open(&self, envelope: &[u8], context: &BTreeMap<String, String>) -> Result<Vec<u8>, AwsError> {
        self.kms.decrypt_internal(envelope, context).await
    }
}
