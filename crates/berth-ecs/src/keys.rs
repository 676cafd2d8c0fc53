//! The store key layout of ECS resources. Every key is built here.

pub const CLUSTERS: &str = "ecs/clusters/";

pub fn cluster(name: &str) -> String {
    format!("{CLUSTERS}{name}")
}

/// Task definition revisions: `ecs/taskdefs/FAMILY/REV` with REV zero-padded
/// so key order is revision order.
pub fn task_definition(family: &str, revision: i64) -> String {
    format!("ecs/taskdefs/{family}/{revision:010}")
}

pub fn task_definitions_of(family: &str) -> String {
    format!("ecs/taskdefs/{family}/")
}

pub const TASK_DEFINITIONS: &str = "ecs/taskdefs/";

/// Per-family bookkeeping (last revision number handed out).
pub fn family(family: &str) -> String {
    format!("ecs/families/{family}")
}

pub const FAMILIES: &str = "ecs/families/";

/// Every task of every cluster.
pub const TASKS: &str = "ecs/tasks/";

pub fn tasks_of(cluster: &str) -> String {
    format!("{TASKS}{cluster}/")
}

pub fn task(cluster: &str, id: &str) -> String {
    format!("ecs/tasks/{cluster}/{id}")
}

/// Every container instance of every cluster.
pub const INSTANCES: &str = "ecs/instances/";

pub fn instances_of(cluster: &str) -> String {
    format!("{INSTANCES}{cluster}/")
}

pub fn instance(cluster: &str, id: &str) -> String {
    format!("ecs/instances/{cluster}/{id}")
}

/// Every service of every cluster.
pub const SERVICES: &str = "ecs/services/";

pub fn services_of(cluster: &str) -> String {
    format!("{SERVICES}{cluster}/")
}

pub fn service(cluster: &str, name: &str) -> String {
    format!("ecs/services/{cluster}/{name}")
}

/// Capacity providers (the built-in FARGATE and FARGATE_SPOT are stored only
/// once they carry tags): `ecs/capacity-providers/NAME`.
pub const CAPACITY_PROVIDERS: &str = "ecs/capacity-providers/";

pub fn capacity_provider(name: &str) -> String {
    format!("{CAPACITY_PROVIDERS}{name}")
}

/// Account settings: `ecs/settings/PRINCIPAL_ARN_OR_default/NAME`.
pub fn account_setting(principal: &str, name: &str) -> String {
    format!("ecs/settings/{principal}/{name}")
}

pub fn account_settings_of(principal: &str) -> String {
    format!("ecs/settings/{principal}/")
}

/// Every custom attribute of every cluster.
pub const ATTRIBUTES: &str = "ecs/attributes/";

/// Custom attributes: `ecs/attributes/CLUSTER/TARGET_TYPE/TARGET_ID/NAME`.
pub fn attributes_of_cluster(cluster: &str) -> String {
    format!("ecs/attributes/{cluster}/")
}

pub fn attribute(cluster: &str, target_type: &str, target_id: &str, name: &str) -> String {
    format!("ecs/attributes/{cluster}/{target_type}/{target_id}/{name}")
}

/// RunTask `clientToken`s: `ecs/client-tokens/CLUSTER/TOKEN` → the task ARNs
/// it produced and a fingerprint of the request.
pub const CLIENT_TOKENS: &str = "ecs/client-tokens/";

pub fn client_token(cluster: &str, token: &str) -> String {
    format!("{CLIENT_TOKENS}{cluster}/{token}")
}
