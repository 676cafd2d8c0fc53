//! Small conveniences over the API for people at a terminal (and scripts,
//! with `--output json`): `berth status`, `berth tasks wait` and `berth logs`.
//! They are ordinary signed API clients (the agent's `ApiClient`), so they
//! work against any Berth server; `target` finds which one, and as whom.

mod admin;
mod admin_http;
mod logs;
mod profile;
mod registry;
mod scan_db;
mod status;
pub mod target;
mod tasks;

pub use admin::{AdminCommand, admin};
pub use logs::{LogsArgs, logs};
pub use registry::{RegistryCommand, registry};
pub use scan_db::{ScanDbCommand, scan_db};
pub use status::status;
pub use target::{Output, Target};
pub use tasks::{TasksCommand, tasks};

use anyhow::Context;
use berth_agent::client::{ApiClient, ApiError};
use berth_proto::sigv4::Credentials;
use serde_json::{Value, json};

/// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and
/// AWS_SESSION_TOKEN), else BERTH_ROOT_ACCESS_KEY_ID / BERTH_ROOT_SECRET_ACCESS_KEY
/// (`berth agent`).
pub fn credentials_from_env(who: &str) -> anyhow::Result<Credentials> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(k), Some(s)) => Ok(Credentials {
            access_key_id: k,
            secret_access_key: s,
            session_token: env("AWS_SESSION_TOKEN"),
        }),
        _ => match (env("BERTH_ROOT_ACCESS_KEY_ID"), env("BERTH_ROOT_SECRET_ACCESS_KEY")) {
            (Some(k), Some(s)) => Ok(Credentials {
                access_key_id: k,
                secret_access_key: s,
                session_token: None,
            }),
            _ => anyhow::bail!(
                "{who} needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                 (or BERTH_ROOT_ACCESS_KEY_ID and BERTH_ROOT_SECRET_ACCESS_KEY)"
            ),
        },
    }
}

/// A connected terminal command: the client and where its target came from.
pub(crate) struct Session {
    api: ApiClient,
    target: target::Resolved,
    output: Output,
}

impl Session {
    pub(crate) fn connect(args: &Target) -> anyhow::Result<Self> {
        let record = crate::local::read(&args.data_dir)?;
        let resolved = target::resolve(
            args,
            &target::ProcessEnv,
            record.as_ref().map(|r| (args.data_dir.as_path(), r)),
        )?;
        let api = ApiClient::with_ca_bundle(
            &resolved.endpoint,
            resolved.credentials.clone(),
            &resolved.region,
            resolved.ca_bundle.as_deref(),
        )
        .map_err(anyhow::Error::msg)?;
        Ok(Self {
            api,
            target: resolved,
            output: args.output,
        })
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.target.endpoint
    }

    /// Explains an API error with where the endpoint and credentials came from.
    fn explain(&self, service: &str, op: &str, e: ApiError) -> anyhow::Error {
        let t = &self.target;
        let hint = match &e {
            ApiError::Transport { .. } => format!(
                " (endpoint from {}; start Berth with `berth up`, or point at another with --endpoint)",
                t.endpoint_from
            ),
            ApiError::Aws { code, .. }
                if matches!(
                    code.as_str(),
                    "UnrecognizedClientException" | "InvalidSignatureException" | "IncompleteSignature"
                ) =>
            {
                format!(
                    " (credentials from {}, endpoint from {})",
                    t.credentials_from, t.endpoint_from
                )
            }
            ApiError::Aws { .. } => String::new(),
        };
        anyhow::Error::new(e).context(format!("{service} {op}{hint}"))
    }

    pub(crate) async fn ecs(&self, op: &str, input: Value) -> anyhow::Result<Value> {
        self.api.call(op, &input).await.map_err(|e| self.explain("ecs", op, e))
    }

    /// Calls an awsJson operation of another service (`target_prefix`, signing `service`).
    pub(crate) async fn call(
        &self,
        target_prefix: &str,
        service: &str,
        op: &str,
        input: &Value,
    ) -> anyhow::Result<Value> {
        self.api
            .call_service(target_prefix, service, op, input)
            .await
            .map_err(|e| self.explain(service, op, e))
    }

    pub(crate) async fn logs_call(&self, op: &str, input: &Value) -> Result<Value, ApiError> {
        self.api.call_logs(op, input).await
    }

    /// Lists every page of a List* operation into one vector of ARNs.
    pub(crate) async fn list_all(&self, op: &str, mut input: Value, field: &str) -> anyhow::Result<Vec<String>> {
        let mut out = vec![];
        loop {
            let page = self.ecs(op, input.clone()).await?;
            out.extend(
                page[field]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(String::from)),
            );
            match page["nextToken"].as_str() {
                Some(t) => input["nextToken"] = json!(t),
                None => return Ok(out),
            }
        }
    }

    pub(crate) fn json(&self) -> bool {
        self.output == Output::Json
    }
}

/// Prints a JSON document on stdout (`--output json`).
pub(crate) fn print_json(v: &Value) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v).context("writing to stdout")?;
    writeln!(out).context("writing to stdout")?;
    Ok(())
}

pub(crate) fn short_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}
