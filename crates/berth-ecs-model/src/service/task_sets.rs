//! Task sets of services using the EXTERNAL deployment controller: the
//! stored `TaskSet` shape and its pure rules (scale, the count a scale
//! asks for, stability, the request checks). Task sets are kept in their
//! service's record (`ServiceRecord::task_sets`, shown as `taskSets`), so a
//! handler changes a service and its task sets in one compare-and-swap and
//! the service controller converges both in one pass.

use crate::cluster::CapacityProviderStrategyItem;
use crate::tags::Tag;
use berth_proto::AwsError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A task set's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskSetStatus {
    /// The task set serving production traffic (UpdateServicePrimaryTaskSet).
    Primary,
    Active,
    /// Deleted: its tasks stop, then it is gone.
    Draining,
}

/// Whether a task set runs what its scale asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StabilityStatus {
    SteadyState,
    Stabilizing,
}

/// The unit of a scale: ECS has only PERCENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScaleUnit {
    Percent,
}

/// A task set's share of the service's desired count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scale {
    pub value: f64,
    pub unit: ScaleUnit,
}

impl Default for Scale {
    /// ECS's default: the whole desired count.
    fn default() -> Self {
        Scale {
            value: 100.0,
            unit: ScaleUnit::Percent,
        }
    }
}

/// A `scale` as given.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ScaleIn {
    pub value: Option<f64>,
    pub unit: Option<String>,
}

impl Scale {
    /// Checks a given scale (0–100 PERCENT); an absent value is 0 as in ECS.
    pub fn parse(given: Option<&ScaleIn>) -> Result<Scale, AwsError> {
        let Some(s) = given else {
            return Ok(Scale::default());
        };
        match s.unit.as_deref() {
            None | Some("PERCENT") => {}
            Some(u) => {
                return Err(AwsError::invalid_parameter(format!(
                    "Invalid scale unit {u}. Valid values: PERCENT."
                )));
            }
        }
        let value = s.value.unwrap_or(0.0);
        if !(0.0..=100.0).contains(&value) || value.is_nan() {
            return Err(AwsError::invalid_parameter(format!(
                "The scale value must be between 0 and 100 percent, got {value}."
            )));
        }
        Ok(Scale {
            value,
            unit: ScaleUnit::Percent,
        })
    }

    /// The tasks this scale asks for of `desired` (rounded up, as ECS does).
    pub fn tasks_of(&self, desired: i64) -> i64 {
        let n = (desired.max(0) as f64 * self.value / 100.0).ceil();
        // The product is at most `desired`: exact up to 2^53.
        n as i64
    }
}

/// Berth's bookkeeping on a task set; never shown to clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSetInternal {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// A task set as stored: the ECS `TaskSet` shape plus `berth`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSetRecord {
    pub id: String,
    pub task_set_arn: String,
    pub service_arn: String,
    pub cluster_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub status: TaskSetStatus,
    pub task_definition: String,
    pub computed_desired_count: i64,
    pub pending_count: i64,
    pub running_count: i64,
    pub created_at: f64,
    pub updated_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<Value>,
    #[serde(default)]
    pub load_balancers: Vec<super::ServiceLoadBalancer>,
    #[serde(default)]
    pub service_registries: Vec<Value>,
    pub scale: Scale,
    pub stability_status: StabilityStatus,
    pub stability_status_at: f64,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub berth: TaskSetInternal,
}

impl TaskSetRecord {
    /// The task set as DescribeTaskSets shows it.
    pub fn render(&self, include_tags: bool) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        if let Some(o) = v.as_object_mut() {
            o.remove("berth");
            if !include_tags {
                o.remove("tags");
            }
        }
        v
    }

    /// The tasks it is to run of the service's `desired` count: none once
    /// DRAINING.
    pub fn wanted(&self, desired: i64) -> i64 {
        if self.status == TaskSetStatus::Draining {
            0
        } else {
            self.scale.tasks_of(desired)
        }
    }

    /// Records the counts and stability of a reconcile pass: STEADY_STATE
    /// when it runs exactly what it asks for, every task healthy and none
    /// pending; the time it last changed.
    pub fn observe(&mut self, running: i64, pending: i64, healthy: i64, desired: i64, now: f64) {
        let computed = self.wanted(desired);
        let stability = if running == computed && healthy == computed && pending == 0 {
            StabilityStatus::SteadyState
        } else {
            StabilityStatus::Stabilizing
        };
        if (running, pending, computed) != (self.running_count, self.pending_count, self.computed_desired_count) {
            self.running_count = running;
            self.pending_count = pending;
            self.computed_desired_count = computed;
            self.updated_at = now;
        }
        if stability != self.stability_status {
            self.stability_status = stability;
            self.stability_status_at = now;
        }
    }
}

/// The deployment controller a service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentControllerType {
    Ecs,
    External,
}

impl DeploymentControllerType {
    /// A `deploymentController` as given (none: ECS). CODE_DEPLOY needs
    /// AWS CodeDeploy, which Berth does not provide.
    pub fn parse(given: &Value) -> Result<DeploymentControllerType, AwsError> {
        match given["type"].as_str() {
            None | Some("ECS") => Ok(DeploymentControllerType::Ecs),
            Some("EXTERNAL") => Ok(DeploymentControllerType::External),
            Some(t) => Err(AwsError::invalid_parameter(format!(
                "Deployment controller {t} is not supported by Berth; use ECS or EXTERNAL."
            ))),
        }
    }

    /// Of a stored service's `deploymentController`.
    pub fn of(stored: &Value) -> DeploymentControllerType {
        Self::parse(stored).unwrap_or(DeploymentControllerType::Ecs)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentControllerType::Ecs => "ECS",
            DeploymentControllerType::External => "EXTERNAL",
        }
    }
}

/// The CreateService members a service using the EXTERNAL deployment
/// controller takes from its task sets instead (pure): refused, naming
/// CreateTaskSet.
pub fn check_external_service(input: &Value) -> Result<(), AwsError> {
    for field in [
        "taskDefinition",
        "loadBalancers",
        "networkConfiguration",
        "launchType",
        "capacityProviderStrategy",
        "platformVersion",
        "serviceRegistries",
    ] {
        let given = match &input[field] {
            Value::Null => false,
            Value::Array(a) => !a.is_empty(),
            _ => true,
        };
        if given {
            return Err(AwsError::invalid_parameter(format!(
                "{field} cannot be specified for a service using the EXTERNAL deployment controller; specify it on each task set (CreateTaskSet)."
            )));
        }
    }
    if input["schedulingStrategy"].as_str() == Some("DAEMON") {
        return Err(AwsError::invalid_parameter(
            "The DAEMON scheduling strategy is not supported with the EXTERNAL deployment controller.",
        ));
    }
    if input["deploymentConfiguration"]
        .as_object()
        .is_some_and(|o| o.keys().any(|k| k != "maximumPercent" && k != "minimumHealthyPercent"))
    {
        return Err(AwsError::invalid_parameter(
            "A service using the EXTERNAL deployment controller takes only maximumPercent and minimumHealthyPercent in its deploymentConfiguration: the external tool deploys with task sets.",
        ));
    }
    Ok(())
}

/// The UpdateService members allowed for a service using the EXTERNAL
/// deployment controller, as ECS documents them.
pub const EXTERNAL_UPDATABLE: [&str; 8] = [
    "cluster",
    "service",
    "desiredCount",
    "placementConstraints",
    "placementStrategy",
    "healthCheckGracePeriodSeconds",
    "enableECSManagedTags",
    "propagateTags",
];

/// Refuses an UpdateService member a service using the EXTERNAL deployment
/// controller cannot change (pure).
pub fn check_external_update(input: &Value) -> Result<(), AwsError> {
    let Some(o) = input.as_object() else {
        return Ok(());
    };
    if let Some(k) = o
        .keys()
        .find(|k| !EXTERNAL_UPDATABLE.contains(&k.as_str()) && !o[*k].is_null())
    {
        return Err(AwsError::invalid_parameter(format!(
            "{k} cannot be updated for a service using the EXTERNAL deployment controller: only the desired count, task placement constraints and strategies, health check grace period, enableECSManagedTags and propagateTags can. Create a new task set (CreateTaskSet) instead."
        )));
    }
    Ok(())
}

/// The `ecs-svc/<digits>` a task set ARN or id ends with.
pub fn task_set_id_of(reference: &str) -> &str {
    match reference.rfind("ecs-svc/") {
        Some(i) => &reference[i..],
        None => reference.rsplit('/').next().unwrap_or(reference),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_is_checked_and_rounds_up() {
        let s = |v: f64| ScaleIn {
            value: Some(v),
            unit: Some("PERCENT".into()),
        };
        assert_eq!(Scale::parse(None).unwrap().value, 100.0);
        assert_eq!(Scale::parse(Some(&s(50.0))).unwrap().tasks_of(3), 2);
        assert_eq!(Scale::parse(Some(&s(0.0))).unwrap().tasks_of(3), 0);
        assert_eq!(Scale::parse(Some(&s(100.0))).unwrap().tasks_of(3), 3);
        assert_eq!(Scale::parse(Some(&s(10.0))).unwrap().tasks_of(1), 1);
        assert!(Scale::parse(Some(&s(100.5))).is_err());
        assert!(Scale::parse(Some(&s(-1.0))).is_err());
        let bad = ScaleIn {
            value: Some(1.0),
            unit: Some("COUNT".into()),
        };
        assert!(Scale::parse(Some(&bad)).is_err());
    }

    #[test]
    fn stability_follows_the_counts() {
        let mut t = TaskSetRecord {
            id: "ecs-svc/1".into(),
            task_set_arn: String::new(),
            service_arn: String::new(),
            cluster_arn: String::new(),
            started_by: None,
            external_id: None,
            status: TaskSetStatus::Active,
            task_definition: String::new(),
            computed_desired_count: 0,
            pending_count: 0,
            running_count: 0,
            created_at: 0.0,
            updated_at: 0.0,
            launch_type: None,
            capacity_provider_strategy: vec![],
            platform_version: None,
            network_configuration: None,
            load_balancers: vec![],
            service_registries: vec![],
            scale: Scale::default(),
            stability_status: StabilityStatus::Stabilizing,
            stability_status_at: 0.0,
            tags: vec![],
            berth: TaskSetInternal::default(),
        };
        t.observe(1, 1, 1, 2, 5.0);
        assert_eq!(t.stability_status, StabilityStatus::Stabilizing);
        assert_eq!(t.computed_desired_count, 2);
        t.observe(2, 0, 2, 2, 6.0);
        assert_eq!(t.stability_status, StabilityStatus::SteadyState);
        assert_eq!(t.stability_status_at, 6.0);
        t.status = TaskSetStatus::Draining;
        assert_eq!(t.wanted(2), 0);
        assert!(t.render(false).get("berth").is_none());
        assert_eq!(t.render(false)["stabilityStatus"], "STEADY_STATE");
    }

    #[test]
    fn external_services_take_their_revision_from_task_sets() {
        assert_eq!(
            DeploymentControllerType::parse(&json!({"type": "EXTERNAL"})).unwrap(),
            DeploymentControllerType::External
        );
        assert!(DeploymentControllerType::parse(&json!({"type": "CODE_DEPLOY"})).is_err());
        assert!(check_external_service(&json!({"serviceName": "s", "desiredCount": 2})).is_ok());
        assert!(check_external_service(&json!({"taskDefinition": "web"})).is_err());
        assert!(check_external_service(&json!({"loadBalancers": [{}]})).is_err());
        assert!(check_external_update(&json!({"service": "s", "desiredCount": 3})).is_ok());
        let e = check_external_update(&json!({"service": "s", "taskDefinition": "web"})).unwrap_err();
        assert!(e.message.contains("taskDefinition"));
        assert_eq!(
            task_set_id_of("arn:aws:ecs:r:1:task-set/c/s/ecs-svc/123"),
            "ecs-svc/123"
        );
        assert_eq!(task_set_id_of("ecs-svc/123"), "ecs-svc/123");
    }
}
