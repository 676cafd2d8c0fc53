//! The container-instance operations as typed values (their handlers
//! are in `instances/`).

use crate::Ecs;
use crate::authz;
use crate::instances::{DeregisterInput, DescribeInput, ListInput, RegisterInput, UpdateStateInput};
use crate::operation::Operation;
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde_json::Value;

/// RegisterContainerInstance: on its cluster.
pub(crate) struct RegisterContainerInstance;

#[async_trait]
impl Operation<Ecs> for RegisterContainerInstance {
    const NAME: &'static str = "RegisterContainerInstance";
    type Input = RegisterInput;

    fn resources(scope: &Scope, input: &RegisterInput) -> Vec<AuthzResource> {
        vec![authz::cluster_resource(scope, input.cluster.as_deref())]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: RegisterInput) -> Result<Value, AwsError> {
        ecs.register_container_instance(ctx, input).await
    }
}

/// DescribeContainerInstances: on each instance named.
pub(crate) struct DescribeContainerInstances;

#[async_trait]
impl Operation<Ecs> for DescribeContainerInstances {
    const NAME: &'static str = "DescribeContainerInstances";
    type Input = DescribeInput;

    fn resources(scope: &Scope, input: &DescribeInput) -> Vec<AuthzResource> {
        authz::in_cluster(
            scope,
            input.cluster.as_deref(),
            input.container_instances.iter().map(String::as_str),
            Scope::container_instance_arn,
        )
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: DescribeInput) -> Result<Value, AwsError> {
        ecs.describe_container_instances(ctx, input).await
    }
}

/// ListContainerInstances: on its cluster.
pub(crate) struct ListContainerInstances;

#[async_trait]
impl Operation<Ecs> for ListContainerInstances {
    const NAME: &'static str = "ListContainerInstances";
    type Input = ListInput;

    fn resources(scope: &Scope, input: &ListInput) -> Vec<AuthzResource> {
        vec![authz::cluster_resource(scope, input.cluster.as_deref())]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: ListInput) -> Result<Value, AwsError> {
        ecs.list_container_instances(ctx, input).await
    }
}

/// DeregisterContainerInstance: on its cluster.
pub(crate) struct DeregisterContainerInstance;

#[async_trait]
impl Operation<Ecs> for DeregisterContainerInstance {
    const NAME: &'static str = "DeregisterContainerInstance";
    type Input = DeregisterInput;

    fn resources(scope: &Scope, input: &DeregisterInput) -> Vec<AuthzResource> {
        vec![authz::cluster_resource(scope, input.cluster.as_deref())]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: DeregisterInput) -> Result<Value, AwsError> {
        ecs.deregister_container_instance(ctx, input).await
    }
}

/// UpdateContainerInstancesState: on each instance named.
pub(crate) struct UpdateContainerInstancesState;

#[async_trait]
impl Operation<Ecs> for UpdateContainerInstancesState {
    const NAME: &'static str = "UpdateContainerInstancesState";
    type Input = UpdateStateInput;

    fn resources(scope: &Scope, input: &UpdateStateInput) -> Vec<AuthzResource> {
        authz::in_cluster(
            scope,
            input.cluster.as_deref(),
            input.container_instances.iter().map(String::as_str),
            Scope::container_instance_arn,
        )
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: UpdateStateInput) -> Result<Value, AwsError> {
        ecs.update_container_instances_state(ctx, input).await
    }
}
