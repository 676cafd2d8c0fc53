//! Listener and rule actions (pure, over the [`State`] they refer to):
//! which types Berth serves (`forward`, `redirect`, `fixed-response`),
//! their rules, and their normal form as ELBv2 describes them — a forward
//! to one target group also carries its `ForwardConfig` (weight 1,
//! stickiness off), a redirect its `#{…}` defaults.

use crate::errors::{LbError, invalid};
use crate::records::{Action, ForwardConfig, LbType, Stickiness, TargetGroupTuple};
use crate::state::State;

/// The most target groups a forward action weighs.
pub const MAX_FORWARD_GROUPS: usize = 5;
/// The largest weight of a target group in a forward action.
pub const MAX_WEIGHT: i32 = 999;
/// The longest stickiness duration of a forward action, in seconds (7 days).
pub const MAX_STICKINESS: i32 = 604_800;
/// The content types of a fixed response.
pub const CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
];

/// Where the actions are: the load balancer (its ARN and type) and the
/// listener's protocol.
pub struct Place<'a> {
    pub lb_arn: &'a str,
    pub lb_type: LbType,
    pub protocol: &'a str,
}

/// Checks the actions of a listener or rule at `place` and answers their
/// normal form: each served type, one action (Berth has no
/// authenticate actions, so every list holds one terminal action), target
/// groups that exist, speak a protocol the listener can forward to, and
/// belong to no other load balancer.
pub fn check_actions(state: &State, place: &Place<'_>, actions: &[Action]) -> Result<Vec<Action>, LbError> {
    if actions.is_empty() {
        return Err(invalid("At least one action must be specified"));
    }
    if actions.len() > 1 {
        return Err(LbError::TooManyActions);
    }
    actions.iter().map(|a| check_action(state, place, a)).collect()
}

fn check_action(state: &State, place: &Place<'_>, action: &Action) -> Result<Action, LbError> {
    match action.kind.as_str() {
        "forward" => forward(state, place, action),
        "redirect" | "fixed-response" if place.lb_type == LbType::Network => Err(LbError::InvalidLoadBalancerAction(
            format!("Action type '{}' must be one of 'forward'", action.kind),
        )),
        "redirect" => redirect(action),
        "fixed-response" => fixed_response(action),
        other => Err(LbError::InvalidLoadBalancerAction(format!(
            "Action type '{other}' is not supported by Berth: use forward, redirect or fixed-response"
        ))),
    }
}

fn forward(state: &State, place: &Place<'_>, action: &Action) -> Result<Action, LbError> {
    let mut groups: Vec<TargetGroupTuple> = match &action.forward_config {
        Some(f) => f.target_groups.clone(),
        None => Vec::new(),
    };
    match (&action.target_group_arn, groups.as_slice()) {
        (None, []) => return Err(invalid("A target group ARN must be specified for a forward action")),
        (Some(arn), []) => groups.push(TargetGroupTuple {
            target_group_arn: Some(arn.clone()),
            weight: Some(1),
        }),
        (Some(arn), [one]) if one.target_group_arn.as_ref() == Some(arn) => {}
        (Some(_), _) => {
            return Err(invalid(
                "You cannot specify both a target group ARN and a forward config with different target groups",
            ));
        }
        (None, _) => {}
    }
    if groups.len() > MAX_FORWARD_GROUPS {
        return Err(invalid(format!(
            "A forward action can have at most {MAX_FORWARD_GROUPS} target groups"
        )));
    }
    for g in &mut groups {
        let arn = g
            .target_group_arn
            .as_deref()
            .ok_or_else(|| invalid("A target group ARN must be specified for each target group of a forward config"))?;
        let weight = *g.weight.get_or_insert(1);
        if !(0..=MAX_WEIGHT).contains(&weight) {
            return Err(invalid(format!(
                "The weight of target group '{arn}' must be between 0 and {MAX_WEIGHT}"
            )));
        }
        let tg = state
            .tgs
            .get(arn)
            .ok_or_else(|| LbError::TargetGroupsNotFound(arn.to_string()))?;
        if !compatible(place.protocol, &tg.protocol) {
            return Err(LbError::IncompatibleProtocols(format!(
                "The target group '{arn}' has the protocol '{}', which is incompatible with the listener protocol '{}'",
                tg.protocol, place.protocol
            )));
        }
        let others: Vec<String> = state
            .lbs_of_tg(arn)
            .into_iter()
            .filter(|lb| lb != place.lb_arn)
            .collect();
        if !others.is_empty() {
            return Err(LbError::TargetGroupAssociationLimit(arn.to_string()));
        }
    }
    let mut seen = std::collections::HashSet::new();
    if !groups.iter().all(|g| seen.insert(g.target_group_arn.clone())) {
        return Err(invalid("A target group can be specified only once in a forward config"));
    }
    let stickiness = action
        .forward_config
        .as_ref()
        .and_then(|f| f.target_group_stickiness_config.clone())
        .unwrap_or(Stickiness {
            enabled: Some(false),
            duration_seconds: None,
        });
    if stickiness.enabled == Some(true) {
        match stickiness.duration_seconds {
            Some(d) if (1..=MAX_STICKINESS).contains(&d) => {}
            _ => {
                return Err(invalid(format!(
                    "The stickiness duration must be between 1 and {MAX_STICKINESS} seconds when stickiness is enabled"
                )));
            }
        }
    }
    let single = (groups.len() == 1)
        .then(|| groups[0].target_group_arn.clone())
        .flatten();
    Ok(Action {
        kind: "forward".into(),
        target_group_arn: single,
        order: action.order,
        redirect_config: None,
        fixed_response_config: None,
        forward_config: Some(ForwardConfig {
            target_groups: groups,
            target_group_stickiness_config: Some(stickiness),
        }),
    })
}

/// Whether a listener of `listener` protocol forwards to a group of `group` protocol.
pub fn compatible(listener: &str, group: &str) -> bool {
    match listener {
        "HTTP" | "HTTPS" => group == "HTTP" || group == "HTTPS",
        "TCP" => group == "TCP",
        "TLS" => group == "TCP" || group == "TLS",
        _ => false,
    }
}

fn redirect(action: &Action) -> Result<Action, LbError> {
    let mut r = action
        .redirect_config
        .clone()
        .ok_or_else(|| invalid("A redirect config must be specified for a redirect action"))?;
    if let Some(p) = &r.protocol
        && !["HTTP", "HTTPS", "#{protocol}"].contains(&p.as_str())
    {
        return Err(invalid(format!(
            "Redirect protocol '{p}' must be one of 'HTTP', 'HTTPS' or '#{{protocol}}'"
        )));
    }
    if let Some(p) = &r.path
        && !p.starts_with('/')
    {
        return Err(invalid("The redirect path must start with a '/' character"));
    }
    r.protocol.get_or_insert_with(|| "#{protocol}".into());
    r.port.get_or_insert_with(|| "#{port}".into());
    r.host.get_or_insert_with(|| "#{host}".into());
    r.path.get_or_insert_with(|| "/#{path}".into());
    r.query.get_or_insert_with(|| "#{query}".into());
    Ok(Action {
        kind: "redirect".into(),
        target_group_arn: None,
        order: action.order,
        redirect_config: Some(r),
        fixed_response_config: None,
        forward_config: None,
    })
}

fn fixed_response(action: &Action) -> Result<Action, LbError> {
    let f = action
        .fixed_response_config
        .clone()
        .ok_or_else(|| invalid("A fixed response config must be specified for a fixed-response action"))?;
    if let Some(ct) = &f.content_type
        && !CONTENT_TYPES.contains(&ct.as_str())
    {
        return Err(invalid(format!(
            "Fixed response content type '{ct}' must be one of '{}'",
            CONTENT_TYPES.join(", ")
        )));
    }
    Ok(Action {
        kind: "fixed-response".into(),
        target_group_arn: None,
        order: action.order,
        redirect_config: None,
        fixed_response_config: Some(f),
        forward_config: None,
    })
}

#[cfg(test)]
#[path = "actions_tests.rs"]
mod tests;
