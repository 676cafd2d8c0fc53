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
    /// What stays unique across a delete and re-create under the same name
    /// (`aws:userid`): the IAM user's id (`AIDA…`), a role session's
    /// `AROA…:session`, the account id for root.
    pub unique_id: String,
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
                unique_id: account_id.to_string(),
            },
            source_ip: "127.0.0.1".into(),
            user_agent: String::new(),
            secure_transport: false,
        }
    }
}

/// A resource an operation acts on, as IAM authorization sees it: its ARN
/// (`*` when the operation is not resource-scoped) and its tags, which fill
/// the `aws:ResourceTag/KEY` condition keys for that resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthzResource {
    pub arn: String,
    pub tags: Vec<(String, String)>,
    /// Service-specific condition keys for this resource (`ecs:cluster`, …).
    pub condition_keys: Vec<(String, String)>,
    /// The action checked on this resource when it is not the operation's
    /// own `<signing_name>:<Operation>`: a second permission the operation
    /// needs, such as `iam:PassRole` on the role a task definition names or
    /// `kms:Decrypt` on the key behind a SecureString (with `kms:ViaService`
    /// in `condition_keys`).
    pub action: Option<String>,
    /// A resource-based policy (JSON text) evaluated with the caller's
    /// identity policies for this resource, as a KMS key policy or an AWS
    /// managed key's implicit grant to the services that use it.
    pub resource_policy: Option<String>,
}

impl AuthzResource {
    /// A resource with no tags (`*`, or one that does not exist yet).
    pub fn untagged(arn: impl Into<String>) -> Self {
        Self {
            arn: arn.into(),
            ..Self::default()
        }
    }
}

/// The default largest request body of a [`JsonService`]: 10 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 10 * 1024 * 1024;

/// What an AWS service spoken over awsJson (1.0 or 1.1) is, besides its
/// operations: dispatch is on `X-Amz-Target: <target_prefix>.<Operation>`.
/// A service implements this and [`crate::operation::OperationService`]
/// (its ARN scope and its table of operations); the listener's face of it,
/// [`JsonService`], follows for every such service.
#[async_trait]
pub trait JsonServiceInfo: Send + Sync + 'static {
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
    /// The API model inputs are validated against before authorization and
    /// [`JsonService::call`] ([`crate::validate::validate`]): unknown members
    /// removed, AWS's errors for the model's constraints. None (the
    /// default): inputs reach the service as sent.
    fn model(&self) -> Option<&'static crate::validate::ServiceModel> {
        None
    }
    /// How the service authorizes its own operations, when it does (the
    /// listener then asks IAM nothing for it): the ECR API does, per
    /// repository, with the repository's policy. None (the default): the
    /// listener authorizes each operation on its [`Prepared::resources`].
    fn own_authorizer(&self) -> Option<&dyn OwnAuthorizer> {
        None
    }
    /// The tags of the resource named by `arn` (for `aws:ResourceTag/…`):
    /// one cheap lookup, no scans. A resource that does not exist (yet), or
    /// whose lookup fails, has none — the operation then answers its own
    /// not-found error. The default: no tags.
    async fn resource_tags(&self, _ctx: &RequestContext, _arn: &str) -> Vec<(String, String)> {
        Vec::new()
    }
    /// The error a caller gets when one of a request's resources is
    /// refused: by default the authorizer's own `AccessDeniedException`.
    /// A service that checks a second permission on another service's
    /// resource (SSM's `kms:Decrypt` on a SecureString's key) words the
    /// refusal as that service does.
    fn authz_denied(&self, _ctx: &RequestContext, _resource: &AuthzResource, denial: AwsError) -> AwsError {
        denial
    }
    /// An error of this service's input, decoding or handler as its JSON
    /// answer carries it: unchanged by default; an awsQuery-compatible
    /// service (CloudWatch) names the error's shape
    /// ([`crate::bridge::WireModel::query_compatible`]).
    fn error(&self, e: AwsError) -> AwsError {
        e
    }
}

/// The check of a service that authorizes its own operations
/// ([`JsonServiceInfo::own_authorizer`]), run on each resource of a
/// request before it runs.
pub trait OwnAuthorizer: Send + Sync {
    /// Checks `action` (the operation's `<signing_name>:<Operation>`, or
    /// the second permission the resource names) on `resource` for the
    /// caller of `ctx`; the refusal is the request's answer.
    fn check(&self, ctx: &RequestContext, action: &str, resource: &AuthzResource) -> Result<(), AwsError>;
}

/// A JSON service as the listener holds it (`Arc<dyn JsonService>`): its
/// [`JsonServiceInfo`] and the dispatch of its operations. Implemented
/// once, for every [`crate::operation::OperationService`], through its
/// table (`crates/berth-proto/src/operation.rs`): a service writes none of
/// it.
#[async_trait]
pub trait JsonService: JsonServiceInfo {
    /// Takes one request's input over, once: decoded into the operation's
    /// typed input, with what both authorization and the handler need
    /// loaded. The listener then asks the prepared operation for its
    /// [`Prepared::resources`] (unless the caller is the account's root or
    /// the service authorizes itself) and [`Prepared::run`]s it. An error
    /// here (an unknown operation: `UnknownOperationException`; an input
    /// that does not decode) is the answer.
    async fn prepare<'a>(
        &'a self,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: Value,
    ) -> Result<Box<dyn Prepared + 'a>, AwsError>;
    /// Takes one request's input over straight from its awsJson body, when
    /// its operation has a reader for it
    /// ([`crate::operation::Operation::read_body`]) and the reader fully
    /// checked it: the summary the audit trail records, and the prepared
    /// request (what [`JsonService::prepare`] answers). None (the default,
    /// and for any input the reader leaves): the listener takes the general
    /// path — the body parsed, checked against the model, then prepared.
    fn prepare_body<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        _operation: &str,
        _body: &[u8],
    ) -> crate::operation::BodyPrepared<'a> {
        None
    }
    /// Runs one operation as the listener does, but without the listener's
    /// authorization (for tests and internal callers; a service that
    /// authorizes itself still does).
    async fn call(&self, ctx: &RequestContext, operation: &str, input: Value) -> Result<Value, AwsError> {
        self.prepare(ctx, operation, input).await?.run().await
    }
    /// The resources one request is authorized on, each with its tags,
    /// through the same path as a request: `*` for an input that does not
    /// decode or an operation that is not routed (the request is refused
    /// before it is authorized).
    async fn authz_resources(&self, ctx: &RequestContext, operation: &str, input: &Value) -> Vec<AuthzResource> {
        match self.prepare(ctx, operation, input.clone()).await {
            Ok(p) => p.resources().await,
            Err(_) => vec![AuthzResource::untagged("*")],
        }
    }
}

/// One request of a [`JsonService`], its input taken over by
/// [`JsonService::prepare`].
#[async_trait]
pub trait Prepared: Send + Sync {
    /// The resources the operation is authorized on, each with its tags
    /// (never empty: `*` when nothing narrower applies).
    async fn resources(&self) -> Vec<AuthzResource>;
    /// Runs the operation with the input prepared.
    async fn run(self: Box<Self>) -> Result<Value, AwsError>;
}
