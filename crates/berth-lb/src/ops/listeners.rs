//! CreateListener, DescribeListeners, ModifyListener, DeleteListener.
//!
//! An Application Load Balancer listens on HTTP or HTTPS, a Network Load
//! Balancer on TCP or TLS. HTTPS and TLS listeners need a certificate:
//! Berth has no ACM, so a certificate "ARN" is a `file://` URI naming a
//! PEM file on the server (the chain, then its private key), which must
//! exist when the listener is created or modified (checked before the
//! write; the rules on the records are pure).

use super::{answer, created, decode_supported, listener_arn, new_id, page, rule_arn};
use crate::Elbv2;
use crate::actions::{Place, check_actions};
use crate::errors::{LbError, invalid};
use crate::names::{merge_tags, pairs};
use crate::output::{self, ListenerOut};
use crate::records::{Action, Certificate, LbType, Listener, Tag};
use crate::state::State;
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{Members, QueryInput, QueryOperation, QueryResult};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

/// The most listeners a load balancer has.
pub const MAX_LISTENERS: usize = 50;
/// The security policy of an HTTPS/TLS listener when none is given.
pub const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-2016-08";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateListenerInput {
    pub load_balancer_arn: String,
    pub protocol: Option<String>,
    pub port: Option<i32>,
    pub ssl_policy: Option<String>,
    #[serde(default)]
    pub certificates: Vec<Certificate>,
    pub default_actions: Vec<Action>,
    #[serde(default)]
    pub alpn_policy: Vec<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(skip, default = "new_id")]
    pub id: String,
    #[serde(skip, default = "new_id")]
    pub default_rule_id: String,
}

/// The protocols a load balancer's listeners speak.
fn listener_protocols(kind: LbType) -> &'static [&'static str] {
    match kind {
        LbType::Application => &["HTTPS", "HTTP"],
        LbType::Network => &["TLS", "TCP", "TCP_UDP", "UDP"],
    }
}

/// The protocol, port, certificates and policy of a listener, checked.
fn check_endpoint(
    kind: LbType,
    protocol: &str,
    certificates: &[Certificate],
    ssl_policy: Option<&str>,
) -> Result<Option<String>, LbError> {
    let allowed = listener_protocols(kind);
    if !allowed.contains(&protocol) {
        return Err(invalid(format!(
            "Listener protocol '{protocol}' must be one of '{}'",
            allowed.join(", ")
        )));
    }
    crate::health::check_served_protocol(protocol)?;
    let secure = protocol == "HTTPS" || protocol == "TLS";
    if !secure {
        return Ok(None);
    }
    if certificates.is_empty() {
        return Err(invalid(format!(
            "A certificate must be specified for {protocol} listeners"
        )));
    }
    for c in certificates {
        let arn = c.certificate_arn.as_deref().unwrap_or_default();
        if certificate_path(arn).is_none() {
            return Err(LbError::CertificateNotFound(arn.to_string()));
        }
    }
    Ok(Some(ssl_policy.unwrap_or(DEFAULT_SSL_POLICY).to_string()))
}

pub use crate::records::certificate_path;

/// The certificate files a request names exist on the server (read before
/// the write: the checks on the records stay pure).
pub fn check_certificate_files(certificates: &[Certificate]) -> Result<(), LbError> {
    for c in certificates {
        let arn = c.certificate_arn.as_deref().unwrap_or_default();
        if !certificate_path(arn).is_some_and(std::path::Path::is_file) {
            return Err(LbError::CertificateNotFound(arn.to_string()));
        }
    }
    Ok(())
}

/// The ALPN policies of a TLS listener.
pub const ALPN_POLICIES: &[&str] = &["HTTP1Only", "HTTP2Only", "HTTP2Optional", "HTTP2Preferred", "None"];

fn check_alpn(protocol: &str, alpn: &[String]) -> Result<(), LbError> {
    if alpn.is_empty() {
        return Ok(());
    }
    if protocol != "TLS" {
        return Err(invalid("An ALPN policy can only be specified for TLS listeners"));
    }
    match alpn {
        [one] if ALPN_POLICIES.contains(&one.as_str()) => Ok(()),
        _ => Err(LbError::AlpnPolicyNotFound(format!(
            "ALPN policy '{}' must be one of '{}'",
            alpn.join(", "),
            ALPN_POLICIES.join(", ")
        ))),
    }
}

/// Creates a listener with its default rule's id, or answers the one on
/// that port when it is the same (CreateListener is idempotent).
pub fn create(state: &mut State, input: &CreateListenerInput) -> Result<Listener, LbError> {
    let lb = state.lb(&input.load_balancer_arn)?.clone();
    let protocol = input
        .protocol
        .clone()
        .ok_or_else(|| invalid("A listener protocol must be specified"))?;
    let port = input.port.ok_or_else(|| invalid("A listener port must be specified"))?;
    let ssl_policy = check_endpoint(lb.kind, &protocol, &input.certificates, input.ssl_policy.as_deref())?;
    check_alpn(&protocol, &input.alpn_policy)?;
    let place = Place {
        lb_arn: &lb.arn,
        lb_type: lb.kind,
        protocol: &protocol,
    };
    let default_actions = check_actions(state, &place, &input.default_actions)?;
    let listeners = state.listeners_of(&lb.arn);
    if let Some(existing) = listeners.iter().find(|l| l.port == port) {
        if existing.protocol == protocol && existing.default_actions == default_actions {
            return Ok((*existing).clone());
        }
        return Err(LbError::DuplicateListener);
    }
    if listeners.len() >= MAX_LISTENERS {
        return Err(LbError::TooManyListeners);
    }
    let listener = Listener {
        arn: listener_arn(&lb.arn, &input.id),
        id: input.id.clone(),
        load_balancer_arn: lb.arn.clone(),
        port,
        protocol,
        certificates: input.certificates.clone(),
        ssl_policy,
        alpn_policy: input.alpn_policy.clone(),
        default_actions,
        default_rule_id: input.default_rule_id.clone(),
        attributes: Default::default(),
        tags: merge_tags(&[], &input.tags)?,
    };
    state.listeners.insert(listener.arn.clone(), listener.clone());
    Ok(listener)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListenersOutput {
    pub listeners: Members<ListenerOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

fn one(l: &Listener) -> ListenersOutput {
    ListenersOutput {
        listeners: Members(vec![output::listener(l)]),
        next_marker: None,
    }
}

pub struct CreateListener;

#[async_trait]
impl QueryOperation<Elbv2> for CreateListener {
    const NAME: &'static str = "CreateListener";
    type Input = CreateListenerInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode_supported(input, &["MutualAuthentication"])
    }
    /// The load balancer it is added to; the new listener (tag-on-create).
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        let mut out = vec![AuthzResource::untagged(input.load_balancer_arn.clone())];
        if !input.tags.is_empty() {
            out.extend(
                created(
                    listener_arn(&input.load_balancer_arn, &input.id),
                    Self::NAME,
                    &input.tags,
                )
                .into_iter()
                .skip(1),
            );
        }
        out
    }
    fn request_tags(input: &Self::Input) -> Vec<(String, String)> {
        pairs(&input.tags)
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        check_certificate_files(&input.certificates)?;
        let l = svc.write(|st| create(st, &input)).await?;
        answer(Self::NAME, &one(&l))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeListenersInput {
    pub load_balancer_arn: Option<String>,
    #[serde(default)]
    pub listener_arns: Vec<String>,
    pub marker: Option<String>,
    pub page_size: Option<i32>,
}

pub fn describe(state: &State, input: &DescribeListenersInput) -> Result<(Vec<Listener>, Option<String>), LbError> {
    let chosen: Vec<&Listener> = match (&input.load_balancer_arn, input.listener_arns.is_empty()) {
        (Some(lb), true) => {
            state.lb(lb)?;
            state.listeners_of(lb)
        }
        (None, false) => {
            let mut out = Vec::new();
            for arn in &input.listener_arns {
                out.push(state.listener(arn)?);
            }
            out
        }
        _ => return Err(invalid("You must specify either listener ARNs or a load balancer ARN")),
    };
    let keyed = chosen.into_iter().map(|l| (l.arn.clone(), l.clone())).collect();
    page(keyed, input.marker.as_deref(), input.page_size)
}

pub struct DescribeListeners;

#[async_trait]
impl QueryOperation<Elbv2> for DescribeListeners {
    const NAME: &'static str = "DescribeListeners";
    type Input = DescribeListenersInput;
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        Vec::new()
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let state = svc.snapshot().await?;
        let (listeners, next_marker) = describe(&state, &input)?;
        answer(
            Self::NAME,
            &ListenersOutput {
                listeners: Members(listeners.iter().map(output::listener).collect()),
                next_marker,
            },
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyListenerInput {
    pub listener_arn: String,
    pub port: Option<i32>,
    pub protocol: Option<String>,
    pub ssl_policy: Option<String>,
    #[serde(default)]
    pub certificates: Vec<Certificate>,
    #[serde(default)]
    pub default_actions: Vec<Action>,
    #[serde(default)]
    pub alpn_policy: Vec<String>,
}

/// Changes a listener: what is given replaces what it had, checked as on
/// creation (a new protocol against its default actions and its rules').
pub fn modify(state: &mut State, input: &ModifyListenerInput) -> Result<Listener, LbError> {
    let current = state.listener(&input.listener_arn)?.clone();
    let lb = state.lb(&current.load_balancer_arn)?.clone();
    let protocol = input.protocol.clone().unwrap_or_else(|| current.protocol.clone());
    let port = input.port.unwrap_or(current.port);
    let certificates = if input.certificates.is_empty() {
        current.certificates.clone()
    } else {
        input.certificates.clone()
    };
    let ssl_policy = check_endpoint(
        lb.kind,
        &protocol,
        &certificates,
        input.ssl_policy.as_deref().or(current.ssl_policy.as_deref()),
    )?;
    let place = Place {
        lb_arn: &lb.arn,
        lb_type: lb.kind,
        protocol: &protocol,
    };
    let actions = if input.default_actions.is_empty() {
        &current.default_actions
    } else {
        &input.default_actions
    };
    let default_actions = check_actions(state, &place, actions)?;
    for rule in state.rules_of(&current.arn) {
        check_actions(state, &place, &rule.actions)?;
    }
    if state
        .listeners_of(&lb.arn)
        .iter()
        .any(|l| l.port == port && l.arn != current.arn)
    {
        return Err(LbError::DuplicateListener);
    }
    check_alpn(&protocol, &input.alpn_policy)?;
    // A listener no longer TLS loses its ALPN policy.
    let alpn_policy = match (input.alpn_policy.is_empty(), protocol == "TLS") {
        (false, _) => input.alpn_policy.clone(),
        (true, true) => current.alpn_policy.clone(),
        (true, false) => Vec::new(),
    };
    let next = Listener {
        port,
        protocol,
        certificates: if ssl_policy.is_some() { certificates } else { Vec::new() },
        ssl_policy,
        default_actions,
        alpn_policy,
        ..current
    };
    state.listeners.insert(next.arn.clone(), next.clone());
    Ok(next)
}

pub struct ModifyListener;

#[async_trait]
impl QueryOperation<Elbv2> for ModifyListener {
    const NAME: &'static str = "ModifyListener";
    type Input = ModifyListenerInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode_supported(input, &["MutualAuthentication"])
    }
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged(input.listener_arn.clone())]
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        check_certificate_files(&input.certificates)?;
        let l = svc.write(|st| modify(st, &input)).await?;
        answer(Self::NAME, &one(&l))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListenerArnInput {
    pub listener_arn: String,
}

/// Deletes a listener and its rules.
pub fn delete(state: &mut State, arn: &str) -> Result<(), LbError> {
    state.listener(arn)?;
    state.rules.retain(|_, r| r.listener_arn != arn);
    state.listeners.remove(arn);
    Ok(())
}

pub struct DeleteListener;

#[async_trait]
impl QueryOperation<Elbv2> for DeleteListener {
    const NAME: &'static str = "DeleteListener";
    type Input = ListenerArnInput;
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged(input.listener_arn.clone())]
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        svc.write(|st| delete(st, &input.listener_arn)).await?;
        Ok(QueryResult::no_members())
    }
}

/// The ARN of a listener's default rule.
pub fn default_rule_arn(l: &Listener) -> String {
    rule_arn(&l.arn, &l.default_rule_id)
}
