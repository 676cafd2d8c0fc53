//! CreateTargetGroup, DescribeTargetGroups, ModifyTargetGroup, DeleteTargetGroup.

use super::{answer, created, decode_supported, new_id, page};

/// Members of target groups Berth does not serve (gRPC health checks, target control ports).
const UNSUPPORTED: &[&str] = &["GrpcCode", "TargetControlPort"];
use crate::Elbv2;
use crate::errors::{LbError, invalid};
use crate::health::{HealthCheckInput, check_served_protocol, modify_health_check, new_health_check};
use crate::names::{check_tg_name, merge_tags, pairs};
use crate::output::{self, TargetGroupOut};
use crate::records::{Tag, TargetGroup};
use crate::state::State;
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{Members, QueryInput, QueryOperation, QueryResult};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Matcher {
    pub http_code: Option<String>,
}

/// The health-check members CreateTargetGroup and ModifyTargetGroup share
/// (each input holds them: the form has no nesting for them).
macro_rules! health_given {
    ($input:expr) => {
        HealthCheckInput {
            enabled: $input.health_check_enabled,
            protocol: $input.health_check_protocol.clone(),
            port: $input.health_check_port.clone(),
            path: $input.health_check_path.clone(),
            interval_seconds: $input.health_check_interval_seconds,
            timeout_seconds: $input.health_check_timeout_seconds,
            healthy_threshold: $input.healthy_threshold_count,
            unhealthy_threshold: $input.unhealthy_threshold_count,
            matcher: $input.matcher.as_ref().and_then(|m| m.http_code.clone()),
        }
    };
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateTargetGroupInput {
    pub name: String,
    pub protocol: Option<String>,
    pub protocol_version: Option<String>,
    pub port: Option<i32>,
    pub vpc_id: Option<String>,
    pub target_type: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub ip_address_type: Option<String>,
    pub health_check_protocol: Option<String>,
    pub health_check_port: Option<String>,
    pub health_check_enabled: Option<bool>,
    pub health_check_path: Option<String>,
    pub health_check_interval_seconds: Option<i32>,
    pub health_check_timeout_seconds: Option<i32>,
    pub healthy_threshold_count: Option<i32>,
    pub unhealthy_threshold_count: Option<i32>,
    pub matcher: Option<Matcher>,
    #[serde(skip, default = "new_id")]
    pub id: String,
}

impl CreateTargetGroupInput {
    fn arn(&self, scope: &Scope) -> String {
        scope.arn("elasticloadbalancing", format!("targetgroup/{}/{}", self.name, self.id))
    }
}

/// Creates a target group, or answers the one of that name when its
/// settings are the same (CreateTargetGroup is idempotent).
pub fn create(state: &mut State, scope: &Scope, input: &CreateTargetGroupInput) -> Result<TargetGroup, LbError> {
    check_tg_name(&input.name)?;
    let target_type = input.target_type.clone().unwrap_or_else(|| "instance".into());
    if target_type != "instance" && target_type != "ip" {
        return Err(invalid(format!(
            "Target type '{target_type}' is not supported by Berth: use 'instance' or 'ip'"
        )));
    }
    let protocol = input
        .protocol
        .clone()
        .ok_or_else(|| invalid(format!("A protocol must be specified for target type '{target_type}'")))?;
    check_served_protocol(&protocol)?;
    let port = input
        .port
        .ok_or_else(|| invalid(format!("A port must be specified for target type '{target_type}'")))?;
    let http = crate::health::HTTP_PROTOCOLS.contains(&protocol.as_str());
    let protocol_version = match (&input.protocol_version, http) {
        (Some(_), false) => {
            return Err(invalid(
                "A protocol version can only be specified for HTTP and HTTPS target groups",
            ));
        }
        (Some(v), true) if v != "HTTP1" => {
            return Err(LbError::UnsupportedProtocol(format!(
                "Protocol version '{v}' is not supported by Berth: its load balancer speaks HTTP/1.1 to targets; use HTTP1"
            )));
        }
        (v, true) => Some(v.clone().unwrap_or_else(|| "HTTP1".into())),
        (None, false) => None,
    };
    let health_check = new_health_check(&protocol, &health_given!(input))?;
    if let Some(existing) = state.tgs.values().find(|tg| tg.name == input.name) {
        let same = existing.protocol == protocol
            && existing.port == port
            && existing.target_type == target_type
            && existing.health_check == health_check;
        if same {
            return Ok(existing.clone());
        }
        return Err(LbError::DuplicateTargetGroupName(input.name.clone()));
    }
    let tg = TargetGroup {
        arn: input.arn(scope),
        id: input.id.clone(),
        name: input.name.clone(),
        protocol,
        protocol_version,
        port,
        vpc_id: input.vpc_id.clone(),
        target_type,
        ip_address_type: input.ip_address_type.clone().unwrap_or_else(|| "ipv4".into()),
        health_check,
        attributes: Default::default(),
        targets: Vec::new(),
        draining: Vec::new(),
        tags: merge_tags(&[], &input.tags)?,
    };
    state.tgs.insert(tg.arn.clone(), tg.clone());
    Ok(tg)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetGroupsOutput {
    pub target_groups: Members<TargetGroupOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

fn one(state: &State, tg: &TargetGroup) -> TargetGroupsOutput {
    TargetGroupsOutput {
        target_groups: Members(vec![output::target_group(state, tg)]),
        next_marker: None,
    }
}

pub struct CreateTargetGroup;

#[async_trait]
impl QueryOperation<Elbv2> for CreateTargetGroup {
    const NAME: &'static str = "CreateTargetGroup";
    type Input = CreateTargetGroupInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode_supported(input, UNSUPPORTED)
    }
    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        created(input.arn(scope), Self::NAME, &input.tags)
    }
    fn request_tags(input: &Self::Input) -> Vec<(String, String)> {
        pairs(&input.tags)
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let (state, tg) = svc
            .write(|st| {
                let tg = create(st, svc.scope(), &input)?;
                Ok((st.clone(), tg))
            })
            .await?;
        answer(Self::NAME, &one(&state, &tg))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeTargetGroupsInput {
    pub load_balancer_arn: Option<String>,
    #[serde(default)]
    pub target_group_arns: Vec<String>,
    #[serde(default)]
    pub names: Vec<String>,
    pub marker: Option<String>,
    pub page_size: Option<i32>,
}

/// The target groups asked for (all, of a load balancer, by ARN or by name), by name.
pub fn describe(
    state: &State,
    input: &DescribeTargetGroupsInput,
) -> Result<(Vec<TargetGroup>, Option<String>), LbError> {
    let given = [
        input.load_balancer_arn.is_some(),
        !input.target_group_arns.is_empty(),
        !input.names.is_empty(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(invalid(
            "Only one of load balancer ARN, target group ARNs or names can be specified",
        ));
    }
    let mut all: Vec<&TargetGroup> = state.tgs.values().collect();
    all.sort_by(|a, b| (&a.name, &a.arn).cmp(&(&b.name, &b.arn)));
    let chosen: Vec<&TargetGroup> = if let Some(lb) = &input.load_balancer_arn {
        state.lb(lb)?;
        all.into_iter()
            .filter(|tg| state.lbs_of_tg(&tg.arn).contains(lb))
            .collect()
    } else if !input.target_group_arns.is_empty() {
        if input.target_group_arns.iter().any(|a| !state.tgs.contains_key(a)) {
            return Err(LbError::TargetGroupNotFound);
        }
        all.into_iter()
            .filter(|tg| input.target_group_arns.contains(&tg.arn))
            .collect()
    } else if !input.names.is_empty() {
        if input.names.iter().any(|n| !state.tgs.values().any(|tg| &tg.name == n)) {
            return Err(LbError::TargetGroupNotFound);
        }
        all.into_iter().filter(|tg| input.names.contains(&tg.name)).collect()
    } else {
        all
    };
    let keyed = chosen.into_iter().map(|tg| (tg.arn.clone(), tg.clone())).collect();
    page(keyed, input.marker.as_deref(), input.page_size)
}

pub struct DescribeTargetGroups;

#[async_trait]
impl QueryOperation<Elbv2> for DescribeTargetGroups {
    const NAME: &'static str = "DescribeTargetGroups";
    type Input = DescribeTargetGroupsInput;
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        Vec::new()
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let state = svc.snapshot().await?;
        let (tgs, next_marker) = describe(&state, &input)?;
        answer(
            Self::NAME,
            &TargetGroupsOutput {
                target_groups: Members(tgs.iter().map(|tg| output::target_group(&state, tg)).collect()),
                next_marker,
            },
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyTargetGroupInput {
    pub target_group_arn: String,
    pub health_check_protocol: Option<String>,
    pub health_check_port: Option<String>,
    pub health_check_enabled: Option<bool>,
    pub health_check_path: Option<String>,
    pub health_check_interval_seconds: Option<i32>,
    pub health_check_timeout_seconds: Option<i32>,
    pub healthy_threshold_count: Option<i32>,
    pub unhealthy_threshold_count: Option<i32>,
    pub matcher: Option<Matcher>,
}

pub struct ModifyTargetGroup;

#[async_trait]
impl QueryOperation<Elbv2> for ModifyTargetGroup {
    const NAME: &'static str = "ModifyTargetGroup";
    type Input = ModifyTargetGroupInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode_supported(input, UNSUPPORTED)
    }
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged(input.target_group_arn.clone())]
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let (state, tg) = svc
            .write(|st| {
                let tg = st.tg(&input.target_group_arn)?;
                let hc = modify_health_check(&tg.protocol, &tg.health_check, &health_given!(input))?;
                let tg = st
                    .tgs
                    .get_mut(&input.target_group_arn)
                    .ok_or(LbError::TargetGroupNotFound)?;
                tg.health_check = hc;
                let tg = tg.clone();
                Ok((st.clone(), tg))
            })
            .await?;
        answer(Self::NAME, &one(&state, &tg))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetGroupArnInput {
    pub target_group_arn: String,
}

/// Deletes a target group no listener or rule forwards to (one that does
/// not exist is already deleted: DeleteTargetGroup is idempotent).
pub fn delete(state: &mut State, arn: &str) -> Result<(), LbError> {
    if !state.tgs.contains_key(arn) {
        return Ok(());
    }
    if !state.lbs_of_tg(arn).is_empty() {
        return Err(LbError::ResourceInUse(arn.to_string()));
    }
    state.tgs.remove(arn);
    Ok(())
}

pub struct DeleteTargetGroup;

#[async_trait]
impl QueryOperation<Elbv2> for DeleteTargetGroup {
    const NAME: &'static str = "DeleteTargetGroup";
    type Input = TargetGroupArnInput;
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged(input.target_group_arn.clone())]
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        svc.write(|st| delete(st, &input.target_group_arn)).await?;
        Ok(QueryResult::no_members())
    }
}
