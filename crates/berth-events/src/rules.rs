//! PutRule, DescribeRule, ListRules, DeleteRule, EnableRule, DisableRule.

use crate::inputs::{ListRulesInput, PutRuleInput, RuleInput};
use crate::pattern::Pattern;
use crate::records::{RULES, RuleRec, RuleState, rule_key};
use crate::{DEFAULT_BUS, Events, store_error};
use berth_proto::AwsError;
use berth_store::typed;
use serde_json::{Value, json};

pub(crate) fn rule_not_found(name: &str) -> AwsError {
    AwsError::resource_not_found(format!("Rule {name} does not exist on EventBus {DEFAULT_BUS}."))
}

pub(crate) fn invalid_pattern(e: crate::pattern::InvalidPattern) -> AwsError {
    AwsError::new("InvalidEventPatternException", 400, e.to_string())
}

fn state_of(s: Option<&str>) -> Result<Option<RuleState>, AwsError> {
    match s {
        None => Ok(None),
        Some("ENABLED") => Ok(Some(RuleState::Enabled)),
        Some("DISABLED") => Ok(Some(RuleState::Disabled)),
        Some(other) => Err(AwsError::validation(format!(
            "State {other} is not supported by Berth: a rule is ENABLED or DISABLED (there is no CloudTrail management-event delivery)."
        ))),
    }
}

fn describe(r: &RuleRec) -> Value {
    let mut v = json!({
        "Name": r.name,
        "Arn": r.arn,
        "EventPattern": r.event_pattern,
        "State": r.state.as_str(),
        "EventBusName": DEFAULT_BUS,
        "CreatedBy": r.created_by,
    });
    if let Some(d) = &r.description {
        v["Description"] = json!(d);
    }
    if let Some(role) = &r.role_arn {
        v["RoleArn"] = json!(role);
    }
    v
}

impl Events {
    pub(crate) async fn get_rule(&self, name: &str) -> Result<RuleRec, AwsError> {
        typed::get::<RuleRec>(self.store.as_ref(), &rule_key(name))
            .await
            .map_err(store_error)?
            .map(|(r, _)| r)
            .ok_or_else(|| rule_not_found(name))
    }

    pub(crate) async fn rules(&self) -> Result<Vec<RuleRec>, AwsError> {
        typed::list::<RuleRec>(self.store.as_ref(), RULES)
            .await
            .map_err(store_error)
    }

    pub(crate) async fn put_rule(&self, i: PutRuleInput) -> Result<Value, AwsError> {
        self.check_bus(i.event_bus_name.as_deref())?;
        if i.schedule_expression.is_some() {
            return Err(AwsError::validation(
                "ScheduleExpression is not supported by Berth: it runs rules with an EventPattern only.",
            ));
        }
        if i.tags
            .as_ref()
            .is_some_and(|t| t.as_array().is_some_and(|a| !a.is_empty()))
        {
            return Err(AwsError::validation(
                "Tags on rules are not supported by Berth yet: create the rule without Tags.",
            ));
        }
        let Some(text) = i.event_pattern else {
            return Err(AwsError::validation(
                "Parameter(s) EventPattern or ScheduleExpression must be specified.",
            ));
        };
        Pattern::parse(&text).map_err(invalid_pattern)?;
        let state = state_of(i.state.as_deref())?;
        let arn = self.rule_arn(&i.name);
        let (name, account) = (i.name.clone(), self.scope.account.clone());
        typed::update_with(
            store_error,
            self.store.as_ref(),
            &rule_key(&i.name),
            |old: Option<RuleRec>| {
                let targets = old.as_ref().map(|o| o.targets.clone()).unwrap_or_default();
                let kept = old.as_ref().map_or(RuleState::Enabled, |o| o.state);
                Ok(Some(RuleRec {
                    name: name.clone(),
                    arn: arn.clone(),
                    event_pattern: text.clone(),
                    state: state.unwrap_or(kept),
                    description: i.description.clone(),
                    role_arn: i.role_arn.clone(),
                    created_by: account.clone(),
                    targets,
                }))
            },
        )
        .await?;
        Ok(json!({ "RuleArn": arn }))
    }

    pub(crate) async fn describe_rule(&self, i: RuleInput) -> Result<Value, AwsError> {
        self.check_bus(i.event_bus_name.as_deref())?;
        Ok(describe(&self.get_rule(&i.name).await?))
    }

    pub(crate) async fn list_rules(&self, i: ListRulesInput) -> Result<Value, AwsError> {
        self.check_bus(i.event_bus_name.as_deref())?;
        let limit = i.limit.unwrap_or(100);
        let prefix = i.name_prefix.unwrap_or_default();
        let after = i.next_token.unwrap_or_default();
        let mut rules: Vec<RuleRec> = self
            .rules()
            .await?
            .into_iter()
            .filter(|r| r.name.starts_with(&prefix) && r.name.as_str() > after.as_str())
            .collect();
        rules.sort_by(|a, b| a.name.cmp(&b.name));
        let more = rules.len() > limit;
        rules.truncate(limit);
        let mut out = json!({ "Rules": rules.iter().map(describe).collect::<Vec<_>>() });
        if more && let Some(last) = rules.last() {
            out["NextToken"] = json!(last.name);
        }
        Ok(out)
    }

    pub(crate) async fn delete_rule(&self, i: RuleInput) -> Result<Value, AwsError> {
        self.check_bus(i.event_bus_name.as_deref())?;
        let name = i.name.clone();
        typed::update_with(
            store_error,
            self.store.as_ref(),
            &rule_key(&i.name),
            |old: Option<RuleRec>| match old {
                // Deleting a rule that is not there changes nothing.
                None => Ok(None),
                Some(r) if !r.targets.is_empty() => Err(AwsError::validation(format!(
                    "Rule {name} can't be deleted since it has targets: remove them with RemoveTargets first."
                ))),
                Some(_) => Ok(None),
            },
        )
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn set_rule_state(&self, i: RuleInput, state: RuleState) -> Result<Value, AwsError> {
        self.check_bus(i.event_bus_name.as_deref())?;
        let name = i.name.clone();
        typed::update_with(
            store_error,
            self.store.as_ref(),
            &rule_key(&i.name),
            |old: Option<RuleRec>| match old {
                None => Err(rule_not_found(&name)),
                Some(mut r) => {
                    r.state = state;
                    Ok(Some(r))
                }
            },
        )
        .await?;
        Ok(json!({}))
    }
}
