//! PutTargets, RemoveTargets, ListTargetsByRule. A target is a CloudWatch
//! Logs log group of this region and account (`arn:aws:logs:REGION:ACCOUNT:log-group:NAME`)
//! or an API destination of them (`arn:aws:events:REGION:ACCOUNT:api-destination/NAME/ID`,
//! with the `RoleArn` EventBridge requires and optional `HttpParameters`),
//! receiving the whole event, a constant `Input`, or the part at an
//! `InputPath` (`$` or `$.a.b`); each with an optional `RetryPolicy`.

use crate::destinations::destination_name_of;
use crate::inputs::{
    HttpParametersInput, ListTargetsInput, PutTargetsInput, RemoveTargetsInput, RetryPolicyInput, TargetInput,
};
use crate::records::{HttpParams, RetryPolicy, RuleRec, Shaping, TargetRec, rule_key};
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
    "RedshiftDataParameters",
    "SageMakerPipelineParameters",
    "DeadLetterConfig",
    "AppSyncParameters",
];

/// What a target ARN names (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind<'a> {
    LogGroup(&'a str),
    ApiDestination(&'a str),
}

/// The kind of target `arn` is, when Berth delivers to it (pure).
pub fn target_kind<'a>(arn: &'a str, region: &str, account: &str) -> Option<TargetKind<'a>> {
    log_group_of(arn, region, account)
        .map(TargetKind::LogGroup)
        .or_else(|| destination_name_of(arn, region, account).map(TargetKind::ApiDestination))
}

fn retry_policy(id: &str, p: &RetryPolicyInput) -> Result<RetryPolicy, AwsError> {
    let invalid = |what: &str, v: i64, min: i64, max: i64| {
        AwsError::validation(format!(
            "1 validation error detected: Value '{v}' at 'targets.{id}.retryPolicy.{what}' failed to satisfy \
             constraint: Member must have value between {min} and {max} (inclusive)"
        ))
    };
    let retries = match p.maximum_retry_attempts {
        None => None,
        Some(v @ 0..=185) => Some(v as u32),
        Some(v) => return Err(invalid("maximumRetryAttempts", v, 0, 185)),
    };
    let age = match p.maximum_event_age_in_seconds {
        None => None,
        Some(v @ 60..=86_400) => Some(v as u32),
        Some(v) => return Err(invalid("maximumEventAgeInSeconds", v, 60, 86_400)),
    };
    Ok(RetryPolicy {
        max_retries: retries,
        max_age_secs: age,
    })
}

fn http_params(id: &str, p: &HttpParametersInput) -> Result<HttpParams, AwsError> {
    let pairs = |m: &Option<serde_json::Map<String, Value>>, what: &str| -> Result<Vec<(String, String)>, AwsError> {
        m.iter()
            .flatten()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(AwsError::validation(format!(
                    "Target {id}: HttpParameters.{what} {k} must be a string."
                ))),
            })
            .collect()
    };
    Ok(HttpParams {
        path: p.path_parameter_values.clone().unwrap_or_default(),
        headers: pairs(&p.header_parameters, "HeaderParameters")?,
        query: pairs(&p.query_string_parameters, "QueryStringParameters")?,
    })
}

fn role_of(id: &str, role: Option<String>, account: &str) -> Result<Option<String>, AwsError> {
    match role {
        Some(r) if !r.starts_with(&format!("arn:aws:iam::{account}:role/")) => Err(AwsError::validation(format!(
            "Target {id}: RoleArn {r} is not a role of account {account} (arn:aws:iam::{account}:role/NAME)."
        ))),
        r => Ok(r),
    }
}

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
    let Some(kind) = target_kind(&t.arn, region, account) else {
        return Err(AwsError::validation(format!(
            "Target {}: the target {} is not supported: Berth delivers events to CloudWatch Logs log groups \
             (arn:aws:logs:{region}:{account}:log-group:NAME) and API destinations \
             (arn:aws:events:{region}:{account}:api-destination/NAME/ID) of this region and account.",
            t.id, t.arn
        )));
    };
    let role_arn = role_of(&t.id, t.role_arn.clone(), account)?;
    let http = match (&kind, &t.http_parameters) {
        (_, None) => None,
        (TargetKind::ApiDestination(_), Some(p)) => Some(http_params(&t.id, p)?),
        (TargetKind::LogGroup(_), Some(_)) => {
            return Err(AwsError::validation(format!(
                "Target {}: HttpParameters are only for API destination targets.",
                t.id
            )));
        }
    };
    if matches!(kind, TargetKind::ApiDestination(_)) && role_arn.is_none() {
        return Err(AwsError::validation(format!(
            "Target {}: RoleArn is required for an API destination target (a role EventBridge assumes, allowed \
             events:InvokeApiDestination).",
            t.id
        )));
    }
    let retry = t.retry_policy.as_ref().map(|p| retry_policy(&t.id, p)).transpose()?;
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
        role_arn,
        http,
        retry,
    })
}

fn describe(t: &TargetRec) -> Value {
    let mut v = json!({ "Id": t.id, "Arn": t.arn });
    match &t.shaping {
        Shaping::Event => {}
        Shaping::Input(text) => v["Input"] = json!(text),
        Shaping::Path(p) => v["InputPath"] = json!(p),
    }
    if let Some(role) = &t.role_arn {
        v["RoleArn"] = json!(role);
    }
    if let Some(h) = &t.http {
        let mut hp = json!({});
        if !h.path.is_empty() {
            hp["PathParameterValues"] = json!(h.path);
        }
        if !h.headers.is_empty() {
            hp["HeaderParameters"] = Value::Object(h.headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect());
        }
        if !h.query.is_empty() {
            hp["QueryStringParameters"] = Value::Object(h.query.iter().map(|(k, v)| (k.clone(), json!(v))).collect());
        }
        v["HttpParameters"] = hp;
    }
    if let Some(r) = &t.retry {
        let mut rp = json!({});
        if let Some(n) = r.max_retries {
            rp["MaximumRetryAttempts"] = json!(n);
        }
        if let Some(a) = r.max_age_secs {
            rp["MaximumEventAgeInSeconds"] = json!(a);
        }
        v["RetryPolicy"] = rp;
    }
    v
}

/// The roles PutTargets passes to EventBridge (each an `iam:PassRole` check
/// with `iam:PassedToService` `events.amazonaws.com`), once each (pure).
pub(crate) fn passed_roles(i: &PutTargetsInput) -> Vec<berth_proto::AuthzResource> {
    let mut roles: Vec<&str> = Vec::new();
    for r in i.targets.iter().filter_map(|t| t.role_arn.as_deref()) {
        if !roles.contains(&r) {
            roles.push(r);
        }
    }
    roles
        .into_iter()
        .map(|r| berth_proto::AuthzResource {
            arn: r.to_string(),
            action: Some("iam:PassRole".to_string()),
            condition_keys: vec![("iam:PassedToService".to_string(), "events.amazonaws.com".to_string())],
            ..berth_proto::AuthzResource::default()
        })
        .collect()
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
        for t in &new {
            if let Some(TargetKind::ApiDestination(name)) = target_kind(&t.arn, &region, &account) {
                let found = self.get_destination(name).await.ok().filter(|(d, _)| d.arn == t.arn);
                let Some((d, _)) = found else {
                    return Err(AwsError::resource_not_found(format!(
                        "Target {}: the API destination {} does not exist.",
                        t.id, t.arn
                    )));
                };
                let given = t.http.as_ref().map_or(0, |h| h.path.len());
                let wanted = crate::http_target::wildcards(&d.endpoint);
                if given != wanted {
                    return Err(AwsError::validation(format!(
                        "Target {}: the endpoint {} has {wanted} path parameter(s) (*), the target gives {given} \
                         PathParameterValues.",
                        t.id, d.endpoint
                    )));
                }
            }
        }
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
