//! The contract between the listener and an awsQuery service, and the
//! registry the listener dispatches through. The listener names no service:
//! a form is routed by its `Version` (each awsQuery API has its own), or,
//! for a form without one, by its `Action` among the actions a service
//! declares it answers without a version (STS's `GetCallerIdentity`, …).

use super::{Dialect, QueryInput, QueryResult, XmlStyle};
use crate::{AuthzResource, AwsError, RequestContext};
use async_trait::async_trait;
use std::sync::Arc;

/// What authorization needs of one awsQuery request: the resources it acts
/// on (each with its tags) and the tags it sets (`aws:RequestTag/…`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryAuthz {
    pub resources: Vec<AuthzResource>,
    pub request_tags: Vec<(String, String)>,
}

/// An AWS service spoken over awsQuery (IAM, STS; ELBv2, CloudWatch, the
/// EC2 subset next).
#[async_trait]
pub trait QueryService: Send + Sync + 'static {
    /// The SigV4 signing name (`iam`, `sts`, `elasticloadbalancing`).
    fn signing_name(&self) -> &'static str;
    /// The API version a form names (`Version=2010-05-08`).
    fn version(&self) -> &'static str;
    /// The XML namespace of answers and errors
    /// (`https://iam.amazonaws.com/doc/2010-05-08/`).
    fn xml_namespace(&self) -> &'static str;
    /// The frame of answers and errors: awsQuery's, or EC2's.
    fn dialect(&self) -> Dialect {
        Dialect::AwsQuery
    }
    /// Namespace and dialect together.
    fn xml_style(&self) -> XmlStyle {
        XmlStyle {
            namespace: self.xml_namespace(),
            dialect: self.dialect(),
        }
    }
    /// Signing regions accepted besides the server's own (IAM and STS:
    /// `us-east-1`, the region of their global endpoints).
    fn extra_signing_regions(&self) -> &'static [&'static str] {
        &[]
    }
    /// Actions answered for a form that names no `Version`.
    fn versionless_actions(&self) -> &'static [&'static str] {
        &[]
    }
    /// The resources and request tags `<signing_name>:<action>` is authorized
    /// on; `None` for a service whose calls are not authorized by identity
    /// policies (STS: anyone may ask who they are; AssumeRole is governed by
    /// the role's trust policy inside the call).
    fn authz(&self, ctx: &RequestContext, action: &str, input: &QueryInput) -> Option<QueryAuthz>;
    /// The error a caller gets when authorization refuses: by default
    /// `AccessDenied`, HTTP 403, as the awsQuery services word it.
    fn access_denied(&self, denial: AwsError) -> AwsError {
        AwsError::new("AccessDenied", 403, denial.message)
    }
    /// Runs one action. An action the service does not implement answers
    /// [`invalid_action`].
    async fn call(&self, ctx: &RequestContext, action: &str, input: &QueryInput) -> Result<QueryResult, AwsError>;
    /// Takes one request over once: what the listener authorizes
    /// ([`QueryPrepared::authz`]) and runs ([`QueryPrepared::run`]). A
    /// service of typed operations ([`super::QueryTable`]) decodes and
    /// validates its input here, once; the default asks [`QueryService::authz`]
    /// and [`QueryService::call`] with the form.
    async fn prepare<'a>(
        &'a self,
        ctx: &'a RequestContext,
        action: &'a str,
        input: &'a QueryInput,
    ) -> Result<Box<dyn QueryPrepared + 'a>, AwsError> {
        Ok(Box::new(Untyped {
            service: self,
            ctx,
            action,
            input,
        }))
    }
}

/// One awsQuery request taken over by its service: what it is authorized
/// on, and its run.
#[async_trait]
pub trait QueryPrepared: Send + Sync {
    /// The resources and request tags `<signing_name>:<action>` is
    /// authorized on (`None`: not authorized by identity policies).
    async fn authz(&self) -> Option<QueryAuthz>;
    /// Runs the request.
    async fn run(self: Box<Self>) -> Result<QueryResult, AwsError>;
}

/// A request of a service without typed operations: the form, asked twice.
struct Untyped<'a, S: ?Sized> {
    service: &'a S,
    ctx: &'a RequestContext,
    action: &'a str,
    input: &'a QueryInput,
}

#[async_trait]
impl<S: QueryService + ?Sized> QueryPrepared for Untyped<'_, S> {
    async fn authz(&self) -> Option<QueryAuthz> {
        self.service.authz(self.ctx, self.action, self.input)
    }
    async fn run(self: Box<Self>) -> Result<QueryResult, AwsError> {
        self.service.call(self.ctx, self.action, self.input).await
    }
}

/// The awsQuery error for an action a service does not have.
pub fn invalid_action(action: &str) -> AwsError {
    AwsError::new(
        "InvalidAction",
        400,
        format!("Could not find operation {action} for this endpoint"),
    )
}

/// The registered awsQuery services.
#[derive(Clone, Default)]
pub struct QueryServices {
    services: Vec<Arc<dyn QueryService>>,
}

impl QueryServices {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a service. Two services with one version, or one version-less
    /// action claimed twice, is a programming error.
    pub fn register(&mut self, service: Arc<dyn QueryService>) {
        for other in &self.services {
            assert!(
                other.version() != service.version(),
                "two awsQuery services with version {}",
                service.version()
            );
            for action in service.versionless_actions() {
                assert!(
                    !other.versionless_actions().contains(action),
                    "{action} is answered without a version by two awsQuery services"
                );
            }
        }
        self.services.push(service);
    }

    /// The service a form is for: by its `Version`, else by its `Action`.
    pub fn resolve(&self, input: &QueryInput) -> Option<&Arc<dyn QueryService>> {
        match input.get("Version") {
            Some(version) => self.services.iter().find(|s| s.version() == version),
            None => {
                let action = input.get("Action")?;
                self.services.iter().find(|s| s.versionless_actions().contains(&action))
            }
        }
    }

    /// The service signed for as `signing_name` (when one has that name).
    pub fn by_signing_name(&self, signing_name: &str) -> Option<&Arc<dyn QueryService>> {
        self.services.iter().find(|s| s.signing_name() == signing_name)
    }

    /// The style of errors no service can be told for (a request without
    /// a signature, before its body is read): the first registered service's.
    pub fn default_style(&self) -> XmlStyle {
        self.services
            .first()
            .map_or(XmlStyle::query("https://iam.amazonaws.com/doc/2010-05-08/"), |s| {
                s.xml_style()
            })
    }

    /// Every signing region extra to the server's that some service accepts.
    pub fn extra_signing_regions(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = self
            .services
            .iter()
            .flat_map(|s| s.extra_signing_regions().iter().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(&'static str, &'static str, &'static [&'static str]);

    #[async_trait]
    impl QueryService for Fake {
        fn signing_name(&self) -> &'static str {
            self.0
        }
        fn version(&self) -> &'static str {
            self.1
        }
        fn xml_namespace(&self) -> &'static str {
            "urn:fake"
        }
        fn versionless_actions(&self) -> &'static [&'static str] {
            self.2
        }
        fn authz(&self, _: &RequestContext, _: &str, _: &QueryInput) -> Option<QueryAuthz> {
            None
        }
        async fn call(&self, _: &RequestContext, action: &str, _: &QueryInput) -> Result<QueryResult, AwsError> {
            Err(invalid_action(action))
        }
    }

    fn form(s: &str) -> QueryInput {
        QueryInput::parse(s.as_bytes()).expect("a form")
    }

    #[test]
    fn routes_by_version_then_by_versionless_action() {
        let mut reg = QueryServices::new();
        reg.register(Arc::new(Fake("iam", "2010-05-08", &[])));
        reg.register(Arc::new(Fake("sts", "2011-06-15", &["GetCallerIdentity"])));
        let name = |f: &str| reg.resolve(&form(f)).map(|s| s.signing_name());
        assert_eq!(name("Action=ListUsers&Version=2010-05-08"), Some("iam"));
        assert_eq!(name("Action=GetCallerIdentity&Version=2011-06-15"), Some("sts"));
        assert_eq!(name("Action=GetCallerIdentity"), Some("sts"));
        assert_eq!(name("Action=ListUsers"), None);
        assert_eq!(name("Action=ListUsers&Version=1999-01-01"), None);
        assert_eq!(reg.by_signing_name("sts").map(|s| s.version()), Some("2011-06-15"));
        assert_eq!(reg.default_style(), XmlStyle::query("urn:fake"));
    }

    #[test]
    #[should_panic(expected = "two awsQuery services with version")]
    fn one_service_per_version() {
        let mut reg = QueryServices::new();
        reg.register(Arc::new(Fake("a", "1", &[])));
        reg.register(Arc::new(Fake("b", "1", &[])));
    }
}
