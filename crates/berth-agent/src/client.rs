//! The agent's client for the control plane: SigV4-signed awsJson calls
//! (service `ecs`) and the desired-state stream (docs/agent-protocol.md).
//! HTTP or HTTPS (rustls: the system roots plus an optional CA bundle) over reqwest.

use berth_core::backoff::Backoff;
use berth_proto::sigv4::{self, Credentials};
use http::HeaderMap;
use serde_json::Value;
use std::time::Duration;

const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const SERVICE: &str = "ecs";
const ECR_TARGET_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921";
const ECR_SERVICE: &str = "ecr";

/// The agent's retry pace for calls to the control plane: doubling from
/// 250 ms with jitter, capped at 10 s.
pub fn retry_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(250), Duration::from_secs(10))
}

/// A client that cannot be built from its configuration (`--server`,
/// `--ca-bundle`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientConfigError {
    #[error("--server '{endpoint}' is not a URL: {reason}")]
    NotAUrl { endpoint: String, reason: String },
    #[error("--server '{0}': only http:// and https:// endpoints are supported")]
    Scheme(String),
    #[error("--server '{0}' has no host")]
    NoHost(String),
    #[error("cannot read the CA bundle {}: {reason}", .path.display())]
    CaBundleUnreadable { path: std::path::PathBuf, reason: String },
    #[error("the CA bundle {} is not PEM certificates: {reason}", .path.display())]
    CaBundleNotPem { path: std::path::PathBuf, reason: String },
    #[error("the CA bundle {} holds no PEM certificate", .0.display())]
    CaBundleEmpty(std::path::PathBuf),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("cannot reach the Berth server at {endpoint}: {message}")]
    Transport { endpoint: String, message: String },
    #[error("{code}: {message} (HTTP {status})")]
    Aws { status: u16, code: String, message: String },
}

impl ApiError {
    /// A client error that retrying the same request cannot fix.
    pub fn is_permanent(&self) -> bool {
        match self {
            ApiError::Aws { status, code, .. } => {
                *status == 400 && !matches!(code.as_str(), "ThrottlingException" | "RequestLimitExceeded")
                    || *status == 404
            }
            ApiError::Transport { .. } => false,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Aws { code, .. } => Some(code),
            ApiError::Transport { .. } => None,
        }
    }
}

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    host_header: String,
    creds: Credentials,
    region: String,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("endpoint", &self.endpoint.as_str())
            .field("region", &self.region)
            .finish()
    }
}

impl ApiClient {
    pub fn new(endpoint: &str, creds: Credentials, region: &str) -> Result<Self, ClientConfigError> {
        Self::with_ca_bundle(endpoint, creds, region, None)
    }

    /// A client that also trusts the PEM certificates in `ca_bundle` (a
    /// `berth up --tls` CA, `--ca-bundle`/`AWS_CA_BUNDLE`) for https:// endpoints.
    pub fn with_ca_bundle(
        endpoint: &str,
        creds: Credentials,
        region: &str,
        ca_bundle: Option<&std::path::Path>,
    ) -> Result<Self, ClientConfigError> {
        let endpoint = reqwest::Url::parse(endpoint.trim_end_matches('/')).map_err(|e| ClientConfigError::NotAUrl {
            endpoint: endpoint.to_string(),
            reason: e.to_string(),
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(ClientConfigError::Scheme(endpoint.to_string()));
        }
        let host = endpoint
            .host_str()
            .ok_or_else(|| ClientConfigError::NoHost(endpoint.to_string()))?;
        let host_header = match endpoint.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(5));
        if let Some(path) = ca_bundle {
            for cert in read_ca_bundle(path)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| ClientConfigError::Http(e.to_string()))?;
        Ok(Self {
            http,
            endpoint,
            host_header,
            creds,
            region: region.to_string(),
        })
    }

    /// The same client signing with other credentials (a task's execution role).
    pub fn with_credentials(&self, creds: Credentials) -> Self {
        Self { creds, ..self.clone() }
    }

    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    fn transport(&self, e: impl std::fmt::Display) -> ApiError {
        ApiError::Transport {
            endpoint: self.endpoint.to_string(),
            message: e.to_string(),
        }
    }

    fn signed_headers(
        &self,
        service: &str,
        method: &str,
        path: &str,
        query: &str,
        mut headers: HeaderMap,
        body: &[u8],
    ) -> Result<HeaderMap, ApiError> {
        headers.insert(
            http::header::HOST,
            self.host_header.parse().map_err(|e| self.transport(e))?,
        );
        let now = time::OffsetDateTime::now_utc();
        for (k, v) in sigv4::sign(
            method,
            path,
            query,
            &headers,
            body,
            &self.creds,
            &self.region,
            service,
            now,
        ) {
            let name = http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| self.transport(e))?;
            headers.insert(name, v.parse().map_err(|e| self.transport(e))?);
        }
        Ok(headers)
    }

    /// Calls an ECS operation; the answer's JSON or the AWS error.
    pub async fn call(&self, operation: &str, input: &Value) -> Result<Value, ApiError> {
        self.call_service(TARGET_PREFIX, SERVICE, operation, input).await
    }

    /// Calls an ECR operation (signing name `ecr`).
    pub async fn call_ecr(&self, operation: &str, input: &Value) -> Result<Value, ApiError> {
        self.call_service(ECR_TARGET_PREFIX, ECR_SERVICE, operation, input)
            .await
    }

    /// Calls an SSM operation (signing name `ssm`): container secrets.
    pub async fn call_ssm(&self, operation: &str, input: &Value) -> Result<Value, ApiError> {
        self.call_service("AmazonSSM", "ssm", operation, input).await
    }

    /// Calls a CloudWatch Logs operation (signing name `logs`): the awslogs driver.
    pub async fn call_logs(&self, operation: &str, input: &Value) -> Result<Value, ApiError> {
        self.call_service("Logs_20140328", "logs", operation, input).await
    }

    /// Calls a Secrets Manager operation (signing name `secretsmanager`): container secrets.
    pub async fn call_secrets_manager(&self, operation: &str, input: &Value) -> Result<Value, ApiError> {
        self.call_service("secretsmanager", "secretsmanager", operation, input)
            .await
    }

    /// Calls an awsJson operation of any service on the server (the
    /// terminal commands read CloudWatch and Application Auto Scaling).
    pub async fn call_service(
        &self,
        target_prefix: &str,
        signing_name: &str,
        operation: &str,
        input: &Value,
    ) -> Result<Value, ApiError> {
        let body = serde_json::to_vec(input).unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(CONTENT_TYPE));
        headers.insert(
            "x-amz-target",
            format!("{target_prefix}.{operation}")
                .parse()
                .map_err(|e| self.transport(e))?,
        );
        let headers = self.signed_headers(signing_name, "POST", "/", "", headers, &body)?;
        let resp = self
            .http
            .post(self.endpoint.join("/").map_err(|e| self.transport(e))?)
            .headers(headers)
            .body(body)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| self.transport(e))?;
        if (200..300).contains(&status) {
            if text.trim().is_empty() {
                return Ok(Value::Object(Default::default()));
            }
            return serde_json::from_str(&text).map_err(|e| ApiError::Aws {
                status,
                code: "SerializationException".into(),
                message: format!("the answer to {operation} is not JSON: {e}"),
            });
        }
        Err(parse_error(status, &text))
    }

    /// Opens the desired-state stream. The caller reads it with
    /// [`reqwest::Response::chunk`].
    pub async fn open_session(&self, cluster: &str, instance_arn: &str) -> Result<reqwest::Response, ApiError> {
        let path = "/agent/v1/session";
        let query = format!(
            "cluster={}&containerInstance={}",
            sigv4::uri_encode(cluster.as_bytes(), true),
            sigv4::uri_encode(instance_arn.as_bytes(), true)
        );
        let headers = self.signed_headers(SERVICE, "GET", path, &query, HeaderMap::new(), b"")?;
        let mut url = self.endpoint.join(path).map_err(|e| self.transport(e))?;
        url.set_query(Some(&query));
        let resp = self
            .http
            .get(url)
            .headers(headers)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = resp.status().as_u16();
        if status == 200 {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        Err(parse_error(status, &text))
    }
}

impl ApiClient {
    /// The security groups of the instance's awsvpc tasks
    /// (`GET /agent/v1/security-groups`, docs/agent-protocol.md §8).
    pub async fn security_groups(
        &self,
        cluster: &str,
        instance_arn: &str,
    ) -> Result<berth_agent_protocol::SecurityGroupsView, ApiError> {
        let path = "/agent/v1/security-groups";
        let query = format!(
            "cluster={}&containerInstance={}",
            sigv4::uri_encode(cluster.as_bytes(), true),
            sigv4::uri_encode(instance_arn.as_bytes(), true)
        );
        let headers = self.signed_headers(SERVICE, "GET", path, &query, HeaderMap::new(), b"")?;
        let mut url = self.endpoint.join(path).map_err(|e| self.transport(e))?;
        url.set_query(Some(&query));
        let resp = self
            .http
            .get(url)
            .headers(headers)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| self.transport(e))?;
        if status != 200 {
            return Err(parse_error(status, &text));
        }
        serde_json::from_str(&text).map_err(|e| ApiError::Aws {
            status,
            code: "SerializationException".into(),
            message: format!("the security groups answer is not JSON: {e}"),
        })
    }
}

/// The certificates of a PEM bundle, or an error naming the file.
fn read_ca_bundle(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, ClientConfigError> {
    let pem = std::fs::read(path).map_err(|e| ClientConfigError::CaBundleUnreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientConfigError::CaBundleNotPem {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if certs.is_empty() {
        return Err(ClientConfigError::CaBundleEmpty(path.to_path_buf()));
    }
    Ok(certs)
}

/// An AWS error body (`{"__type": "...#Code", "message": "..."}`), or the
/// raw text when it is not one.
fn parse_error(status: u16, text: &str) -> ApiError {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let code = v
        .get("__type")
        .and_then(Value::as_str)
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
        .unwrap_or_else(|| format!("HTTP{status}"));
    let message = v
        .get("message")
        .or_else(|| v.get("Message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| text.chars().take(300).collect());
    ApiError::Aws { status, code, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_errors_are_parsed_and_classified() {
        let e = parse_error(
            400,
            r#"{"__type":"com.amazonaws.ecs#ClusterNotFoundException","message":"Cluster not found."}"#,
        );
        assert_eq!(e.code(), Some("ClusterNotFoundException"));
        assert!(e.is_permanent());
        assert!(e.to_string().contains("Cluster not found."));
        let e = parse_error(400, r#"{"__type":"ThrottlingException","message":"slow down"}"#);
        assert!(!e.is_permanent());
        let e = parse_error(503, "upstream gone");
        assert_eq!(e.code(), Some("HTTP503"));
        assert!(!e.is_permanent());
        assert!(e.to_string().contains("upstream gone"));
        let e = parse_error(403, r#"{"__type":"UnrecognizedClientException","message":"bad key"}"#);
        assert!(
            !e.is_permanent(),
            "credentials may be fixed on the server side: keep trying"
        );
    }

    #[test]
    fn endpoints_must_be_http_or_https_urls() {
        let c = ApiClient::new("http://127.0.0.1:4600/", Credentials::new("a", "b"), "us-east-1").unwrap();
        assert_eq!(c.host_header, "127.0.0.1:4600");
        let c = ApiClient::new("https://berth.example", Credentials::new("a", "b"), "us-east-1").unwrap();
        assert_eq!(c.host_header, "berth.example");
        assert!(ApiClient::new("ftp://x", Credentials::new("a", "b"), "us-east-1").is_err());
        assert!(ApiClient::new("not a url", Credentials::new("a", "b"), "us-east-1").is_err());
    }

    #[test]
    fn a_ca_bundle_must_be_readable_pem() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("ca.pem");
        let creds = Credentials::new("a", "b");
        let e = ApiClient::with_ca_bundle("https://x", creds.clone(), "us-east-1", Some(&missing))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read the CA bundle"), "{e}");
        std::fs::write(&missing, "hello").unwrap();
        let e = ApiClient::with_ca_bundle("https://x", creds, "us-east-1", Some(&missing))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ca.pem"), "{e}");
    }
}
