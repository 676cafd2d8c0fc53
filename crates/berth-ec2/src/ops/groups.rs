//! CreateSecurityGroup, DescribeSecurityGroups, DeleteSecurityGroup,
//! DescribeSecurityGroupRules. A new group lets everything out and nothing
//! in; a group a task interface uses, or another group's rule names, cannot
//! be deleted (`DependencyViolation`), nor a VPC's `default` group.

use super::{TagSpecification, answer, any, created, decode, page, request_tags, spec_tags};
use crate::errors::Ec2Error;
use crate::output::{self, Items};
use crate::records::{Peer, SecurityGroup, Tags, allow_all_out, new_id};
use crate::rules::{self, Filter, check_description, check_group_id, check_group_name, check_vpc_id};
use crate::{Ec2, SIGNING_NAME};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{QueryInput, QueryOperation, QueryResult};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

pub fn group_arn(scope: &Scope, id: &str) -> String {
    scope.arn(SIGNING_NAME, format!("security-group/{id}"))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSecurityGroupInput {
    pub group_name: String,
    pub group_description: String,
    pub vpc_id: Option<String>,
    #[serde(default, rename = "TagSpecification")]
    pub tag_specifications: Vec<TagSpecification>,
    #[serde(skip, default = "new_group_id")]
    pub id: String,
}

fn new_group_id() -> String {
    new_id("sg")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateSecurityGroupOutput {
    #[serde(rename = "return")]
    ok: bool,
    group_id: String,
    security_group_arn: String,
    tag_set: Items<output::TagOut>,
}

pub struct CreateSecurityGroup;

#[async_trait]
impl QueryOperation<Ec2> for CreateSecurityGroup {
    const NAME: &'static str = "CreateSecurityGroup";
    type Input = CreateSecurityGroupInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode(input, &[])
    }
    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        let mut out = created(
            group_arn(scope, &input.id),
            Self::NAME,
            !input.tag_specifications.is_empty(),
        );
        if let Some(vpc) = &input.vpc_id {
            out.push(AuthzResource::untagged(scope.arn(SIGNING_NAME, format!("vpc/{vpc}"))));
        }
        out
    }
    fn request_tags(input: &Self::Input) -> Vec<(String, String)> {
        request_tags(&input.tag_specifications)
    }
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        check_group_name(&input.group_name)?;
        if input.group_name == "default" {
            return Err(Ec2Error::GroupReserved(input.group_name.clone()).into());
        }
        check_description(&input.group_description)?;
        if let Some(vpc) = &input.vpc_id {
            check_vpc_id(vpc)?;
        }
        let tags = spec_tags(&input.tag_specifications, "security-group")?;
        ec2.write(|st| {
            let vpc_id = match &input.vpc_id {
                Some(v) if st.vpcs.contains_key(v) => v.clone(),
                Some(v) => return Err(Ec2Error::VpcNotFound(v.clone()).into()),
                None => st
                    .default_vpc()
                    .map(|v| v.id.clone())
                    .ok_or_else(|| AwsError::internal("the region has no default VPC"))?,
            };
            if st
                .groups
                .values()
                .any(|g| g.vpc_id == vpc_id && g.name == input.group_name)
            {
                return Err(Ec2Error::GroupDuplicate(input.group_name.clone(), vpc_id).into());
            }
            st.groups.insert(
                input.id.clone(),
                SecurityGroup {
                    id: input.id.clone(),
                    name: input.group_name.clone(),
                    description: input.group_description.clone(),
                    vpc_id,
                    ingress: vec![],
                    egress: vec![allow_all_out()],
                    tags: tags.clone(),
                },
            );
            Ok(())
        })
        .await?;
        answer(
            Self::NAME,
            &CreateSecurityGroupOutput {
                ok: true,
                group_id: input.id.clone(),
                security_group_arn: group_arn(ec2.scope(), &input.id),
                tag_set: output::tag_set(&tags),
            },
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeSecurityGroupsInput {
    #[serde(default, rename = "GroupId")]
    pub group_ids: Vec<String>,
    #[serde(default, rename = "GroupName")]
    pub group_names: Vec<String>,
    #[serde(default, rename = "Filter")]
    pub filters: Vec<Filter>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescribeSecurityGroupsOutput {
    security_group_info: Items<output::SecurityGroupOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub struct DescribeSecurityGroups;

#[async_trait]
impl QueryOperation<Ec2> for DescribeSecurityGroups {
    const NAME: &'static str = "DescribeSecurityGroups";
    type Input = DescribeSecurityGroupsInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode(input, &[])
    }
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        any()
    }
    /// `GroupId.N` must each exist; `GroupName.N` are names in the default
    /// VPC, as on AWS.
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let state = ec2.state().await?;
        for id in &input.group_ids {
            check_group_id(id)?;
            if !state.groups.contains_key(id) {
                return Err(Ec2Error::GroupNotFound(id.clone()).into());
            }
        }
        let default_vpc = state.default_vpc().map(|v| v.id.clone()).unwrap_or_default();
        for name in &input.group_names {
            if !state
                .groups
                .values()
                .any(|g| &g.name == name && g.vpc_id == default_vpc)
            {
                return Err(Ec2Error::GroupNameNotFound(name.clone(), default_vpc.clone()).into());
            }
        }
        let scope = ec2.scope();
        let mut out = Vec::new();
        for g in state.groups.values() {
            if !input.group_ids.is_empty() && !input.group_ids.contains(&g.id) {
                continue;
            }
            let named = g.vpc_id == default_vpc && input.group_names.contains(&g.name);
            if !input.group_names.is_empty() && !named {
                continue;
            }
            let keep = rules::matches(&input.filters, &g.tags, |name| match name {
                "group-id" => Some(vec![g.id.clone()]),
                "group-name" => Some(vec![g.name.clone()]),
                "vpc-id" => Some(vec![g.vpc_id.clone()]),
                "description" => Some(vec![g.description.clone()]),
                "owner-id" => Some(vec![scope.account.clone()]),
                _ => None,
            })?;
            if keep {
                out.push(output::group(g, group_arn(scope, &g.id), &scope.account));
            }
        }
        let (groups, next_token) = page(out, input.next_token.as_deref(), input.max_results)?;
        answer(
            Self::NAME,
            &DescribeSecurityGroupsOutput {
                security_group_info: Items(groups),
                next_token,
            },
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSecurityGroupInput {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeleteSecurityGroupOutput {
    #[serde(rename = "return")]
    ok: bool,
    group_id: String,
}

pub struct DeleteSecurityGroup;

/// The group a mutating request names: Berth takes `GroupId` (a name would
/// need a lookup before authorization, and names are per VPC).
pub fn group_id_of(id: &Option<String>, name: &Option<String>) -> Result<String, AwsError> {
    match (id, name) {
        (Some(id), _) => {
            check_group_id(id)?;
            Ok(id.clone())
        }
        (None, Some(_)) => Err(Ec2Error::InvalidParameterValue(
            "Berth names the security group of this request by GroupId only; look the id up with DescribeSecurityGroups"
                .into(),
        )
        .into()),
        (None, None) => Err(Ec2Error::MissingParameter("groupId".into()).into()),
    }
}

#[async_trait]
impl QueryOperation<Ec2> for DeleteSecurityGroup {
    const NAME: &'static str = "DeleteSecurityGroup";
    type Input = DeleteSecurityGroupInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        let input: Self::Input = decode(input, &[])?;
        group_id_of(&input.group_id, &input.group_name)?;
        Ok(input)
    }
    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        input
            .group_id
            .iter()
            .map(|id| AuthzResource::untagged(group_arn(scope, id)))
            .collect()
    }
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let id = group_id_of(&input.group_id, &input.group_name)?;
        if ec2.task_interfaces().await?.iter().any(|i| i.groups.contains(&id)) {
            return Err(Ec2Error::GroupInUse(id).into());
        }
        ec2.write(|st| {
            let group = st.groups.get(&id).ok_or_else(|| Ec2Error::GroupNotFound(id.clone()))?;
            if group.name == "default" {
                return Err(Ec2Error::CannotDeleteDefaultGroup(id.clone()).into());
            }
            let referenced = st.groups.values().any(|g| {
                g.id != id
                    && g.ingress
                        .iter()
                        .chain(&g.egress)
                        .any(|r| r.peer == Peer::Group(id.clone()))
            });
            if referenced {
                return Err(Ec2Error::GroupInUse(id.clone()).into());
            }
            st.groups.remove(&id);
            Ok(())
        })
        .await?;
        answer(Self::NAME, &DeleteSecurityGroupOutput { ok: true, group_id: id })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeSecurityGroupRulesInput {
    #[serde(default, rename = "SecurityGroupRuleId")]
    pub rule_ids: Vec<String>,
    #[serde(default, rename = "Filter")]
    pub filters: Vec<Filter>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescribeSecurityGroupRulesOutput {
    security_group_rule_set: Items<output::SecurityGroupRuleOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub struct DescribeSecurityGroupRules;

#[async_trait]
impl QueryOperation<Ec2> for DescribeSecurityGroupRules {
    const NAME: &'static str = "DescribeSecurityGroupRules";
    type Input = DescribeSecurityGroupRulesInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode(input, &[])
    }
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        any()
    }
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let state = ec2.state().await?;
        let scope = ec2.scope();
        let mut out = Vec::new();
        let no_tags = Tags::new();
        for g in state.groups.values() {
            let all = g
                .ingress
                .iter()
                .map(|r| (false, r))
                .chain(g.egress.iter().map(|r| (true, r)));
            for (is_egress, r) in all {
                if !input.rule_ids.is_empty() && !input.rule_ids.contains(&r.id) {
                    continue;
                }
                let keep = rules::matches(&input.filters, &no_tags, |name| match name {
                    "group-id" => Some(vec![g.id.clone()]),
                    "security-group-rule-id" => Some(vec![r.id.clone()]),
                    _ => None,
                })?;
                if !keep {
                    continue;
                }
                out.push(output::rule(scope, &g.id, is_egress, r));
            }
        }
        for id in &input.rule_ids {
            if !out.iter().any(|r| &r.security_group_rule_id == id) {
                return Err(AwsError::new(
                    "InvalidSecurityGroupRuleId.NotFound",
                    400,
                    format!("The security group rule ID '{id}' does not exist"),
                ));
            }
        }
        let (rules, next_token) = page(out, input.next_token.as_deref(), input.max_results)?;
        answer(
            Self::NAME,
            &DescribeSecurityGroupRulesOutput {
                security_group_rule_set: Items(rules),
                next_token,
            },
        )
    }
}
