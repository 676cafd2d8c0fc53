//! CreateRule, DescribeRules, ModifyRule, DeleteRule, SetRulePriorities.
//! Rules belong to Application Load Balancer listeners; each listener also
//! has its default rule (its default actions, no conditions, priority
//! `default`), which can be described and have its actions modified but
//! is neither deleted nor given a priority.

use super::listeners::default_rule_arn;
use super::{answer, created, decode_supported, new_id, page, rule_arn};
use crate::Elbv2;
use crate::actions::{Place, check_actions};
use crate::conditions::check_conditions;
use crate::errors::{LbError, invalid};
use crate::names::{merge_tags, pairs};
use crate::output::{self, RuleOut};
use crate::records::{Action, Condition, LbType, Listener, Rule, Tag};
use crate::state::State;
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{Members, QueryInput, QueryOperation, QueryResult};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

/// Members of rules Berth does not serve.
const UNSUPPORTED: &[&str] = &["Transforms", "ResetTransforms", "RegexValues"];

/// The most rules (besides the default ones) of a load balancer.
pub const MAX_RULES: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRuleInput {
    pub listener_arn: String,
    pub conditions: Vec<Condition>,
    pub priority: i32,
    pub actions: Vec<Action>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(skip, default = "new_id")]
    pub id: String,
}

/// The listener and the place of its actions, for an ALB listener only.
fn place_of<'a>(state: &'a State, listener: &'a Listener) -> Result<Place<'a>, LbError> {
    let lb = state.lb(&listener.load_balancer_arn)?;
    if lb.kind != LbType::Application {
        return Err(LbError::InvalidConfiguration(
            "Rules are supported only for listeners of Application Load Balancers".into(),
        ));
    }
    Ok(Place {
        lb_arn: &listener.load_balancer_arn,
        lb_type: lb.kind,
        protocol: &listener.protocol,
    })
}

pub fn create(state: &mut State, input: &CreateRuleInput) -> Result<Rule, LbError> {
    let listener = state.listener(&input.listener_arn)?.clone();
    let place = place_of(state, &listener)?;
    let conditions = check_conditions(&input.conditions)?;
    let actions = check_actions(state, &place, &input.actions)?;
    if state
        .rules_of(&listener.arn)
        .iter()
        .any(|r| r.priority == input.priority)
    {
        return Err(LbError::PriorityInUse(input.priority));
    }
    let lb_rules = state
        .rules
        .values()
        .filter(|r| {
            state.listeners.get(&r.listener_arn).map(|l| &l.load_balancer_arn) == Some(&listener.load_balancer_arn)
        })
        .count();
    if lb_rules >= MAX_RULES {
        return Err(LbError::TooManyRules);
    }
    let rule = Rule {
        arn: rule_arn(&listener.arn, &input.id),
        id: input.id.clone(),
        listener_arn: listener.arn.clone(),
        priority: input.priority,
        conditions,
        actions,
        tags: merge_tags(&[], &input.tags)?,
    };
    state.rules.insert(rule.arn.clone(), rule.clone());
    Ok(rule)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RulesOutput {
    pub rules: Members<RuleOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

fn rules_output(rules: Vec<RuleOut>) -> RulesOutput {
    RulesOutput {
        rules: Members(rules),
        next_marker: None,
    }
}

pub struct CreateRule;

#[async_trait]
impl QueryOperation<Elbv2> for CreateRule {
    const NAME: &'static str = "CreateRule";
    type Input = CreateRuleInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode_supported(input, UNSUPPORTED)
    }
    /// The listener it is added to; the new rule (tag-on-create).
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        let mut out = vec![AuthzResource::untagged(input.listener_arn.clone())];
        if !input.tags.is_empty() {
            out.extend(
                created(rule_arn(&input.listener_arn, &input.id), Self::NAME, &input.tags)
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
        let rule = svc.write(|st| create(st, &input)).await?;
        answer(Self::NAME, &rules_output(vec![output::rule(&rule)]))
    }
}

/// A rule as described: one of a listener's, or its default rule.
pub enum Described {
    Rule(Rule),
    Default(String, Listener),
}

impl Described {
    fn arn(&self) -> &str {
        match self {
            Described::Rule(r) => &r.arn,
            Described::Default(arn, _) => arn,
        }
    }
    pub fn out(&self) -> RuleOut {
        match self {
            Described::Rule(r) => output::rule(r),
            Described::Default(arn, l) => output::default_rule(arn.clone(), l),
        }
    }
}

/// The rule of `arn`: a rule, or a listener's default rule.
pub(crate) fn find(state: &State, arn: &str) -> Result<Described, LbError> {
    if let Some(r) = state.rules.get(arn) {
        return Ok(Described::Rule(r.clone()));
    }
    state
        .listeners
        .values()
        .find(|l| default_rule_arn(l) == arn)
        .map(|l| Described::Default(arn.to_string(), l.clone()))
        .ok_or(LbError::RuleNotFound)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRulesInput {
    pub listener_arn: Option<String>,
    #[serde(default)]
    pub rule_arns: Vec<String>,
    pub marker: Option<String>,
    pub page_size: Option<i32>,
}

/// A listener's rules by priority then its default rule, or the rules asked for.
pub fn describe(state: &State, input: &DescribeRulesInput) -> Result<(Vec<Described>, Option<String>), LbError> {
    let chosen: Vec<Described> = match (&input.listener_arn, input.rule_arns.is_empty()) {
        (Some(arn), true) => {
            let l = state.listener(arn)?;
            let mut out: Vec<Described> = state.rules_of(arn).into_iter().cloned().map(Described::Rule).collect();
            out.push(Described::Default(default_rule_arn(l), l.clone()));
            out
        }
        (None, false) => input
            .rule_arns
            .iter()
            .map(|a| find(state, a))
            .collect::<Result<_, _>>()?,
        _ => return Err(invalid("You must specify either listener ARNs or rule ARNs")),
    };
    let keyed = chosen.into_iter().map(|d| (d.arn().to_string(), d)).collect();
    page(keyed, input.marker.as_deref(), input.page_size)
}

pub struct DescribeRules;

#[async_trait]
impl QueryOperation<Elbv2> for DescribeRules {
    const NAME: &'static str = "DescribeRules";
    type Input = DescribeRulesInput;
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        Vec::new()
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let state = svc.snapshot().await?;
        let (rules, next_marker) = describe(&state, &input)?;
        answer(
            Self::NAME,
            &RulesOutput {
                rules: Members(rules.iter().map(Described::out).collect()),
                next_marker,
            },
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyRuleInput {
    pub rule_arn: String,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// Replaces a rule's conditions and/or actions (a default rule: its actions only).
pub fn modify(state: &mut State, input: &ModifyRuleInput) -> Result<Described, LbError> {
    match find(state, &input.rule_arn)? {
        Described::Rule(mut rule) => {
            let listener = state.listener(&rule.listener_arn)?.clone();
            let place = place_of(state, &listener)?;
            if !input.conditions.is_empty() {
                rule.conditions = check_conditions(&input.conditions)?;
            }
            if !input.actions.is_empty() {
                rule.actions = check_actions(state, &place, &input.actions)?;
            }
            state.rules.insert(rule.arn.clone(), rule.clone());
            Ok(Described::Rule(rule))
        }
        Described::Default(arn, mut listener) => {
            if !input.conditions.is_empty() {
                return Err(LbError::OperationNotPermitted(
                    "Conditions cannot be specified for a default rule".into(),
                ));
            }
            if !input.actions.is_empty() {
                let lb = state.lb(&listener.load_balancer_arn)?;
                let place = Place {
                    lb_arn: &listener.load_balancer_arn,
                    lb_type: lb.kind,
                    protocol: &listener.protocol,
                };
                listener.default_actions = check_actions(state, &place, &input.actions)?;
            }
            state.listeners.insert(listener.arn.clone(), listener.clone());
            Ok(Described::Default(arn, listener))
        }
    }
}

pub struct ModifyRule;

#[async_trait]
impl QueryOperation<Elbv2> for ModifyRule {
    const NAME: &'static str = "ModifyRule";
    type Input = ModifyRuleInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode_supported(input, UNSUPPORTED)
    }
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged(input.rule_arn.clone())]
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let rule = svc.write(|st| modify(st, &input)).await?;
        answer(Self::NAME, &rules_output(vec![rule.out()]))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuleArnInput {
    pub rule_arn: String,
}

pub fn delete(state: &mut State, arn: &str) -> Result<(), LbError> {
    match find(state, arn)? {
        Described::Rule(_) => {
            state.rules.remove(arn);
            Ok(())
        }
        Described::Default(..) => Err(LbError::OperationNotPermitted(format!(
            "Default rule '{arn}' cannot be deleted"
        ))),
    }
}

pub struct DeleteRule;

#[async_trait]
impl QueryOperation<Elbv2> for DeleteRule {
    const NAME: &'static str = "DeleteRule";
    type Input = RuleArnInput;
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged(input.rule_arn.clone())]
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        svc.write(|st| delete(st, &input.rule_arn)).await?;
        Ok(QueryResult::no_members())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RulePriorityPair {
    pub rule_arn: Option<String>,
    pub priority: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetRulePrioritiesInput {
    pub rule_priorities: Vec<RulePriorityPair>,
}

/// Gives rules new priorities at once; no two rules of a listener end on one.
pub fn set_priorities(state: &mut State, pairs: &[RulePriorityPair]) -> Result<Vec<Rule>, LbError> {
    let mut changed = Vec::new();
    for p in pairs {
        let arn = p
            .rule_arn
            .as_deref()
            .ok_or_else(|| invalid("A rule ARN must be specified"))?;
        let priority = p.priority.ok_or_else(|| invalid("A priority must be specified"))?;
        match find(state, arn)? {
            Described::Rule(mut r) => {
                r.priority = priority;
                changed.push(r);
            }
            Described::Default(..) => {
                return Err(LbError::OperationNotPermitted(format!(
                    "The priority of default rule '{arn}' cannot be changed"
                )));
            }
        }
    }
    for r in &changed {
        state.rules.insert(r.arn.clone(), r.clone());
    }
    for r in &changed {
        if state
            .rules_of(&r.listener_arn)
            .iter()
            .any(|o| o.priority == r.priority && o.arn != r.arn)
        {
            return Err(LbError::PriorityInUse(r.priority));
        }
    }
    Ok(changed)
}

pub struct SetRulePriorities;

#[async_trait]
impl QueryOperation<Elbv2> for SetRulePriorities {
    const NAME: &'static str = "SetRulePriorities";
    type Input = SetRulePrioritiesInput;
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        input
            .rule_priorities
            .iter()
            .filter_map(|p| p.rule_arn.clone())
            .map(AuthzResource::untagged)
            .collect()
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let rules = svc.write(|st| set_priorities(st, &input.rule_priorities)).await?;
        answer(Self::NAME, &rules_output(rules.iter().map(output::rule).collect()))
    }
}
