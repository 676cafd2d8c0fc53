//! The one signed `POST` of Berth's own administration paths (`berth
//! registry gc`, `berth admin spot-interrupt`): SigV4 for the service the
//! server authenticates the path as, the target's CA bundle, the answer
//! read as JSON with its status.

use super::target::Resolved;
use anyhow::Context;
use serde_json::Value;
use std::time::Duration;

/// Sends `POST path?query` to the target, signed for `service`; returns
/// the HTTP status and the JSON body.
pub async fn signed_post(
    t: &Resolved,
    path: &str,
    query: &str,
    service: &str,
) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let base = reqwest::Url::parse(t.endpoint.trim_end_matches('/'))
        .with_context(|| format!("the endpoint '{}' is not a URL", t.endpoint))?;
    let host = base.host_str().context("the endpoint has no host")?;
    let host = match base.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::HOST, host.parse()?);
    let signed = berth_proto::sigv4::sign(
        "POST",
        path,
        query,
        &headers,
        b"",
        &t.credentials,
        &t.region,
        service,
        time::OffsetDateTime::now_utc(),
    );
    for (k, v) in signed {
        headers.insert(reqwest::header::HeaderName::from_bytes(k.as_bytes())?, v.parse()?);
    }
    let mut client = reqwest::Client::builder().connect_timeout(Duration::from_secs(5));
    if let Some(ca) = &t.ca_bundle {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        for cert in
            reqwest::Certificate::from_pem_bundle(&pem).with_context(|| format!("{} is not PEM", ca.display()))?
        {
            client = client.add_root_certificate(cert);
        }
    }
    let mut url = base.join(path)?;
    if !query.is_empty() {
        url.set_query(Some(query));
    }
    let resp = client
        .build()?
        .post(url)
        .headers(headers)
        .send()
        .await
        .with_context(|| format!("POST {path} (endpoint from {})", t.endpoint_from))?;
    let status = resp.status();
    let body: Value = resp.json().await.context("reading the server's answer")?;
    Ok((status, body))
}

/// [`signed_post`] for an admin command (`what`, as the error names it):
/// the JSON body of a success, else an error with the service's error
/// code, status and message and where the credentials came from.
pub async fn admin_call(t: &Resolved, path: &str, query: &str, service: &str, what: &str) -> anyhow::Result<Value> {
    let (status, body) = signed_post(t, path, query, service).await.context(what.to_string())?;
    if !status.is_success() {
        anyhow::bail!(
            "{what}: {} ({}): {} (credentials from {})",
            body["__type"].as_str().unwrap_or("error"),
            status,
            body["message"].as_str().unwrap_or(""),
            t.credentials_from
        );
    }
    Ok(body)
}
