//! PutTargets, RemoveTargets, ListTargetsByRule. A target is a CloudWatch
//! Logs log group of this region and account (`arn:aws:logs:REGION:ACCOUNT:log-group:NAME`),
//! receiving the whole event, a constant `Input`, or the part at an
//! `InputPath` (`$` or `$.a.b`).

use crate::inputs::{ListTargetsInput, PutTargetsInput, RemoveTargetsInput, TargetInput};
use crate::records::{RuleRec, Shaping, TargetRec, rule_key};
use crate::rules::rule_not_found;
use crate::{Events, store_error};
use berth_proto::AwsError;
use berth_store::typed;
use serde_json::{Value, json};

/// The most targets a rule has, as in EventBridge.
pub const MAX_TARGETS: usize = 5;

/// Target members Berth does not honour yet.
const UNSUPPORTED: &[&str] = &[
    "InputTransformer",
    "KinesisParameters",
    "RunCommandParameters",
    "EcsParameters",
    "BatchParameters",
    "SqsParameters",
    "HttpParameters",
    "RedshiftDataParameters",
    "SageMakerPipelineParameters",
    "DeadLetterConfig",
    "RetryPolicy",
    "AppSyncParameters",
];

/// The log group a target ARN names, when it is one of `region`/`account` (pure).
pub fn log_group_of<'a>(arn: &'a str, region: &str, account: &str) -> Option<&'a str> {
    let rest = arn.strip_prefix(&format!("arn:aws:logs:{region}:{account}:log-group:"))?;
    let name = rest.strip_suffix(":*").unwrap_or(rest);
    (!name.is_empty() && !name.contains(':')).then_some(name)
}

/// The part of `event` at `path` (`$`, `$.detail`, `$.detail.a`), if any (pure).
pub fn at_path<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    let rest = path.strip_prefix('$')?;
    if rest.is_empty() {
        return Some(event);
    }
    rest.strip_prefix('.')?
        .split('.')
        .try_fold(event, |v, key| v.as_object()?.get(key))
}

fn valid_path(path: &str) -> bool {
    path == "$"
        || path.strip_prefix("$.").is_some_and(|rest| {
            rest.split('.')
                .all(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        })
}

fn target(t: TargetInput, region: &str, account: &str) -> Result<TargetRec, AwsError> {
    if let Some(member) = UNSUPPORTED.iter().find(|m| t.other.contains_key(**m)) {
        return Err(AwsError::validation(format!(
            "Target {}: {member} is not supported by Berth; a target gets the event, an Input or an InputPath.",
            t.id
        )));
    }
    if log_group_of(&t.arn, region, account).is_none() {
        return Err(AwsError::validation(format!(
            "Target {}: the target {} is not supported: Berth delivers events to CloudWatch Logs log groups of this \
             region and account (arn:aws:logs:{region}:{account}:log-group:NAME).",
            t.id, t.arn
        )));
    }
    let shaping = match (t.input, t.input_path) {
        (Some(_), Some(_)) => {
            return Err(AwsError::validation(format!(
                "Target {}: only one of Input, InputPath, or InputTransformer must be provided.",
                t.id
            )));
        }
        (Some(text), None) => {
            if serde_json::from_str::<Value>(&text).is_err() {
                return Err(AwsError::validation(format!(
                    "Target {}: Input is not valid JSON text.",
                    t.id
                )));
            }
            Shaping::Input(text)
        }
        (None, Some(path)) => {
            if !valid_path(&path) {
                return Err(AwsError::validation(format!(
                    "Target {}: InputPath {path} is not supported: Berth reads $ or $.name.name….",
                    t.id
                )));
            }
            Shaping::Path(path)
        }
        (None, None) => Shaping::Event,
    };
    Ok(TargetRec {
        id: t.id,
        arn: t.arn,
        shaping,
    })
}

fn describe(t: &TargetRec) -> Value {
    let mut v = json!({ "Id": t.id, "Arn": t.arn });
    match &t.shaping {
        Shaping::Event => {}
        Shaping::Input(text) => v["Input"] = json!(text),
        Shaping::Path(p) => v["InputPath"] = json!(p),
    }
    v
}

impl Events {
    pub(crate) async fn put_targets(&self, i: PutTargetsInput) -> Result<Value, AwsError> {
        self.check_bus(i.event_bus_name.as_deref())?;
        let (region, account) = (self.scope.region.clone(), self.scope.account.clone());
        let new: Vec<TargetRec> = i
            .targets
            .into_iter()
            .map(|t| target(t, &region, &account))
            .collect::<Result<_, _>>()?;
        let rule = i.rule.clone();
        typed::update_with(store_error, self.store.as_ref(), &rule_key(&i.rule), |old: Option<RuleRec>| {
            let Some(mut r) = old else {
                return Err(rule_not_found(&rule));
            };
            for t in &new {
                match r.targets.iter_mut().find(|x| x.id == t.id) {
                    Some(existing) => *existing = t.clone(),
                    None => r.targets.push(t.clone()),
                }
            }
            if r.targets.len() > MAX_TARGETS {
                return Err(AwsError::new(
                    "LimitExceededException",
                    400,
                    format!("The requested resource exceeds the maximum number allowed: a rule has at most {MAX_TARGETS} targets."),
                ));
            }
            Ok(Some(r))
        })
        .await?;
        Ok(json!({ "FailedEntryCount": 0, "FailedEntries": [] }))
    }

    pub(crate) async fn remove_targets(&self, i: RemoveTargetsInput) -> Result<Value, AwsError> {
        self.check_bus(i.event_bus_name.as_deref())?;
        let rule = i.rule.clone();
        typed::update_with(
            store_error,
            self.store.as_ref(),
            &rule_key(&i.rule),
            |old: Option<RuleRec>| {
                let Some(mut r) = old else {
                    return Err(rule_not_found(&rule));
                };
                r.targets.retain(|t| !i.ids.contains(&t.id));
                Ok(Some(r))
            },
        )
        .await?;
        Ok(json!({ "FailedEntryCount": 0, "FailedEntries": [] }))
    }

    pub(crate) async fn list_targets(&self, i: ListTargetsInput) -> Result<Value, AwsError> {
        self.check_bus(i.event_bus_name.as_deref())?;
        let r = self.get_rule(&i.rule).await?;
        let limit = i.limit.unwrap_or(100);
        let start = match &i.next_token {
            None => 0,
            Some(id) => r
                .targets
                .iter()
                .position(|t| &t.id == id)
                .map_or(r.targets.len(), |p| p + 1),
        };
        let page: Vec<&TargetRec> = r.targets.iter().skip(start).take(limit).collect();
        let mut out = json!({ "Targets": page.iter().map(|t| describe(t)).collect::<Vec<_>>() });
        if start + page.len() < r.targets.len()
            && let Some(last) = page.last()
        {
            out["NextToken"] = json!(last.id);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_group_targets_of_this_region_and_account_only() {
        let ok = "arn:aws:logs:us-east-1:000000000000:log-group:/aws/events/ecs";
        assert_eq!(log_group_of(ok, "us-east-1", "000000000000"), Some("/aws/events/ecs"));
        assert_eq!(
            log_group_of(&format!("{ok}:*"), "us-east-1", "000000000000"),
            Some("/aws/events/ecs")
        );
        assert_eq!(log_group_of(ok, "eu-west-1", "000000000000"), None);
        assert_eq!(
            log_group_of("arn:aws:sqs:us-east-1:000000000000:q", "us-east-1", "000000000000"),
            None
        );
        assert_eq!(
            log_group_of(
                "arn:aws:logs:us-east-1:000000000000:log-group:",
                "us-east-1",
                "000000000000"
            ),
            None
        );
    }

    #[test]
    fn input_paths() {
        let e = json!({"detail": {"lastStatus": "STOPPED", "n": {"m": 1}}});
        assert_eq!(at_path(&e, "$"), Some(&e));
        assert_eq!(at_path(&e, "$.detail.lastStatus"), Some(&json!("STOPPED")));
        assert_eq!(at_path(&e, "$.detail.n.m"), Some(&json!(1)));
        assert_eq!(at_path(&e, "$.nope"), None);
        assert!(valid_path("$") && valid_path("$.detail") && valid_path("$.detail.last-status"));
        assert!(!valid_path("$..x") && !valid_path("$.a[0]") && !valid_path("detail") && !valid_path("$."));
    }
}
