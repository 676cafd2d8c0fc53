//! The `loadBalancers` of CreateService and UpdateService: the entries
//! checked by the pure rules of `berth_ecs_model::service`, against the
//! target groups the region's [`crate::target_registry::TargetRegistry`]
//! knows and the other services using them.

use crate::{Ecs, keys};
use berth_ecs_model::ServiceStatus;
use berth_ecs_model::service::{
    LoadBalancerIn, ServiceFacts, ServiceLoadBalancer, ServiceRecord, TargetGroupUser, check_load_balancer_entries,
    check_load_balancers, forwards_to_both,
};
use berth_proto::AwsError;
use serde_json::Value;

/// The stored entries as a request would give them (to check them again
/// against a new task definition).
pub(super) fn as_given(stored: &[ServiceLoadBalancer]) -> Vec<LoadBalancerIn> {
    stored
        .iter()
        .map(|l| LoadBalancerIn {
            target_group_arn: Some(l.target_group_arn.clone()),
            container_name: Some(l.container_name.clone()),
            container_port: Some(l.container_port),
            advanced_configuration: l
                .advanced_configuration
                .as_ref()
                .and_then(|a| serde_json::to_value(a).ok()),
            ..Default::default()
        })
        .collect()
}

/// `iam:PassRole` (to ECS) on the roles of the `advancedConfiguration`s
/// given: ECS changes the listener rules with them.
pub(super) fn advanced_roles(
    scope: &berth_core::arn::Scope,
    given: &[LoadBalancerIn],
) -> Vec<berth_proto::AuthzResource> {
    given
        .iter()
        .filter_map(|l| l.advanced_configuration.as_ref()?["roleArn"].as_str())
        .filter_map(|r| crate::authz::role_arn(scope, r))
        .map(|role_arn| {
            crate::authz::PassedRole {
                role_arn,
                service: crate::authz::ECS_SERVICE,
            }
            .authz_resource()
        })
        .collect()
}

impl Ecs {
    /// Checks a service's `loadBalancers` (`service_arn`: the service they
    /// are for, whose own use of a group is no conflict); returns the
    /// entries to store.
    pub(crate) async fn service_load_balancers(
        &self,
        given: &[LoadBalancerIn],
        td: &Value,
        service_arn: &str,
        service: ServiceFacts<'_>,
    ) -> Result<Vec<ServiceLoadBalancer>, AwsError> {
        if given.is_empty() {
            return Ok(vec![]);
        }
        check_load_balancer_entries(given)?;
        let Some(registry) = &self.targets else {
            return Err(AwsError::invalid_parameter(
                "loadBalancers need Elastic Load Balancing, which this Berth server was started without (BERTH_ELBV2=0).",
            ));
        };
        let mut groups = vec![];
        let alternates: Vec<String> = given
            .iter()
            .filter_map(|l| l.advanced_configuration.as_ref())
            .filter_map(|a| a["alternateTargetGroupArn"].as_str().map(str::to_string))
            .collect();
        for arn in given
            .iter()
            .filter_map(|l| l.target_group_arn.as_deref())
            .chain(alternates.iter().map(String::as_str))
        {
            if let Some(g) = registry.target_group(arn).await? {
                groups.push(g.facts);
            }
        }
        let users = self.target_group_users(service_arn).await?;
        let out = check_load_balancers(given, td, &groups, &users, service)?;
        // The listener rules ECS shifts must forward to both groups.
        for lb in &out {
            let Some(a) = &lb.advanced_configuration else {
                continue;
            };
            let rules = std::iter::once(("production", &a.production_listener_rule))
                .chain(a.test_listener_rule.iter().map(|r| ("test", r)));
            for (which, rule) in rules {
                match registry.rule_weights(rule).await? {
                    None => {
                        return Err(AwsError::invalid_parameter(format!(
                            "The {which} listener rule {rule} does not exist in this region and account."
                        )));
                    }
                    Some(Some(w)) if forwards_to_both(&w, &lb.target_group_arn, &a.alternate_target_group_arn) => {}
                    Some(_) => {
                        return Err(AwsError::invalid_parameter(format!(
                            "The {which} listener rule {rule} must have one forward action to both the target group {} and the alternate target group {}.",
                            lb.target_group_arn, a.alternate_target_group_arn
                        )));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The target groups other live services use.
    async fn target_group_users(&self, except: &str) -> Result<Vec<TargetGroupUser>, AwsError> {
        let mut out = vec![];
        for kv in self
            .store
            .range(keys::SERVICES, None, None)
            .await
            .map_err(AwsError::state_store)?
        {
            let Ok(s) = berth_store::typed::decode::<ServiceRecord>(&kv) else {
                continue;
            };
            if s.service_arn == except || s.status == ServiceStatus::Inactive {
                continue;
            }
            for l in &s.load_balancers {
                out.push(TargetGroupUser {
                    target_group_arn: l.target_group_arn.clone(),
                    service_arn: s.service_arn.clone(),
                    cluster_arn: s.cluster_arn.clone(),
                    scheduling_strategy: s.scheduling_strategy.clone(),
                });
            }
        }
        Ok(out)
    }
}
