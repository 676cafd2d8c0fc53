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
    /// The API model inputs are validated against before authorization and
    /// [`JsonService::call`] ([`crate::validate::validate`]): unknown members
    /// removed, AWS's errors for the model's constraints. None (the
    /// default): inputs reach the service as sent.
    fn model(&self) -> Option<&'static crate::validate::ServiceModel> {
        None
    }
    /// Whether the service authorizes its own operations (the listener then
    /// asks IAM nothing for it): the ECR API does, per repository, with the
    /// repository's policy. The default: the listener authorizes each
    /// operation on its [`Prepared::resources`].
    fn authorizes_itself(&self) -> bool {
        false
    }
    /// The resource ARNs an operation acts on, for IAM authorization of
    /// `<signing_name>:<operation>` (each is checked; `*` for operations
    /// that are not resource-scoped, the default).
    fn resource_arns(&self, _ctx: &RequestContext, _operation: &str, _input: &Value) -> Vec<String> {
        vec!["*".to_string()]
    }
    /// The tags of the resource named by `arn` (for `aws:ResourceTag/…`):
    /// one cheap lookup, no scans. A resource that does not exist (yet), or
    /// whose lookup fails, has none — the operation then answers its own
    /// not-found error. The default: no tags.
    async fn resource_tags(&self, _ctx: &RequestContext, _arn: &str) -> Vec<(String, String)> {
        Vec::new()
    }
    /// The resources an operation is authorized on, each with its tags.
    /// The default is [`JsonService::resource_arns`], each with
    /// [`JsonService::resource_tags`]; a service overrides it when naming
    /// the resource needs a lookup (a KMS alias → its key's ARN, a secret's
    /// name → its full ARN). Never empty: `*` when nothing narrower applies.
    async fn authz_resources(&self, ctx: &RequestContext, operation: &str, input: &Value) -> Vec<AuthzResource> {
        let mut out = Vec::new();
        for arn in self.resource_arns(ctx, operation, input) {
            let tags = if arn == "*" {
                Vec::new()
            } else {
                self.resource_tags(ctx, &arn).await
            };
            out.push(AuthzResource {
                arn,
                tags,
                ..AuthzResource::default()
            });
        }
        out
    }
    /// The error a caller gets when one of [`JsonService::authz_resources`]
    /// is refused: by default the authorizer's own `AccessDeniedException`.
    /// A service that checks a second permission on another service's
    /// resource (SSM's `kms:Decrypt` on a SecureString's key) words the
    /// refusal as that service does.
    fn authz_denied(&self, _ctx: &RequestContext, _resource: &AuthzResource, denial: AwsError) -> AwsError {
        denial
    }
    /// Runs one operation. Operations the service does not implement must
    /// return [`AwsError::unknown_operation`].
    async fn call(&self, ctx: &RequestContext, operation: &str, input: Value) -> Result<Value, AwsError>;
    /// Takes one request's input over, once: the listener then asks the
    /// prepared operation for its [`Prepared::resources`] (unless the
    /// caller is the account's root) and [`Prepared::run`]s it. A service
    /// that decodes its operations into typed inputs does so here (and
    /// loads what both authorization and the handler need, once); an error
    /// here (an unknown operation, an input that does not decode) is the
    /// answer. The default keeps the input as it is and goes through
    /// [`JsonService::authz_resources`] and [`JsonService::call`].
    async fn prepare<'a>(
        &'a self,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: Value,
    ) -> Result<Box<dyn Prepared + 'a>, AwsError> {
        Ok(Box::new(Untyped {
            service: self,
            ctx,
            operation,
            input,
        }))
    }
}

/// One request of a [`JsonService`], its input taken over by
/// [`JsonService::prepare`].
#[async_trait]
pub trait Prepared: Send {
    /// The resources the operation is authorized on, each with its tags
    /// (never empty: `*` when nothing narrower applies).
    async fn resources(&self) -> Vec<AuthzResource>;
    /// Runs the operation with the input prepared.
    async fn run(self: Box<Self>) -> Result<Value, AwsError>;
}

/// The default [`Prepared`]: the input as it came, authorized and run by name.
struct Untyped<'a, S: ?Sized> {
    service: &'a S,
    ctx: &'a RequestContext,
    operation: &'a str,
    input: Value,
}

#[async_trait]
impl<S: JsonService + ?Sized> Prepared for Untyped<'_, S> {
    async fn resources(&self) -> Vec<AuthzResource> {
        self.service
            .authz_resources(self.ctx, self.operation, &self.input)
            .await
    }

    async fn run(self: Box<Self>) -> Result<Value, AwsError> {
        self.service.call(self.ctx, self.operation, self.input).await
    }
}
