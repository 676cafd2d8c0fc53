//! The contract between the HTTP layer and a service implementation.

use crate::AwsError;
use async_trait::async_trait;
use serde_json::Value;

/// Who is calling: filled in by the authentication layer before a service is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `arn:aws:iam::ACCOUNT:root`, `arn:aws:iam::ACCOUNT:user/NAME`, or an assumed-role ARN.
    pub arn: String,
    pub account_id: String,
    pub access_key_id: String,
    /// The account's root identity bypasses policy evaluation, as in AWS.
    pub is_root: bool,
    /// The user name for `aws:username` (None for roles).
    pub user_name: Option<String>,
}

/// Everything a handler may need to know about the request, besides its input.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub account_id: String,
    pub region: String,
    pub principal: Principal,
    pub source_ip: String,
    pub user_agent: String,
    pub secure_transport: bool,
}

impl RequestContext {
    /// A context for tests and internal callers: the root principal of `account_id`.
    pub fn root(account_id: &str, region: &str) -> Self {
        Self {
            request_id: uuid::Uuid::new_v4().to_string(),
            account_id: account_id.to_string(),
            region: region.to_string(),
            principal: Principal {
                arn: format!("arn:aws:iam::{account_id}:root"),
                account_id: account_id.to_string(),
                access_key_id: String::new(),
                is_root: true,
                user_name: None,
            },
            source_ip: "127.0.0.1".into(),
            user_agent: String::new(),
            secure_transport: false,
        }
    }
}

/// The default largest request body of a [`JsonService`]: 10 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 10 * 1024 * 1024;

/// An AWS service spoken over awsJson (1.0 or 1.1): dispatch is on
/// `X-Amz-Target: <target_prefix>.<Operation>`.
#[async_trait]
pub trait JsonService: Send + Sync + 'static {
    /// For example `AmazonEC2ContainerServiceV20141113`.
    fn target_prefix(&self) -> &'static str;
    /// The SigV4 signing name, for example `ecs`.
    fn signing_name(&self) -> &'static str;
    /// `application/x-amz-json-1.1` or `…-1.0`.
    fn content_type(&self) -> &'static str {
        "application/x-amz-json-1.1"
    }
    /// The largest request body this service accepts (the HTTP layer
    /// answers `RequestEntityTooLarge`-style errors above it).
    fn max_body_size(&self) -> usize {
        DEFAULT_MAX_BODY_SIZE
    }
    /// The resource ARNs an operation acts on, for IAM authorization of
    /// `<signing_name>:<operation>` (each is checked; `*` for operations
    /// that are not resource-scoped, the default).
    fn resource_arns(&self, _ctx: &RequestContext, _operation: &str, _input: &Value) -> Vec<String> {
        vec!["*".to_string()]
    }
    /// Runs one operation. Operations the service does not implement must
    /// return [`AwsError::unknown_operation`].
    async fn call(&self, ctx: &RequestContext, operation: &str, input: Value) -> Result<Value, AwsError>;
}
