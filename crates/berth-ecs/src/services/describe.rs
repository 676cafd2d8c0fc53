//! Reading services back: loading one by name or ARN, DescribeServices
//! and ListServices.

use crate::authz;
use crate::operation::Operation;
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_ecs_model::ServiceStatus;
use berth_ecs_model::service::ServiceRecord;
use berth_ecs_model::service::service_name_of;
use berth_proto::pagination::paginate;
use berth_proto::pagination::with_next_token;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::typed;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeServicesInput {
    cluster: Option<String>,
    services: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListServicesInput {
    cluster: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    launch_type: Option<String>,
    scheduling_strategy: Option<String>,
}

impl Ecs {
    /// Loads a service by name or ARN.
    pub(crate) async fn get_service(
        &self,
        cluster: &str,
        reference: &str,
    ) -> Result<Option<(ServiceRecord, i64)>, AwsError> {
        let name = service_name_of(reference);
        if name.is_empty() {
            return Ok(None);
        }
        let found = typed::get::<ServiceRecord>(&*self.store, &keys::service(cluster, name))
            .await
            .map_err(AwsError::state_store)?;
        Ok(found.filter(|(s, _)| !reference.starts_with("arn:") || s.service_arn == reference))
    }

    pub(crate) async fn describe_services(
        &self,
        _ctx: &RequestContext,
        input: DescribeServicesInput,
    ) -> Result<Value, AwsError> {
        for i in &input.include {
            if i != "TAGS" {
                return Err(AwsError::invalid_parameter(format!(
                    "Invalid include value: {i}. Valid values: TAGS."
                )));
            }
        }
        if input.services.is_empty() || input.services.len() > 10 {
            return Err(AwsError::invalid_parameter(
                "services must list between 1 and 10 services.",
            ));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let cname = cluster.cluster_name;
        let include_tags = !input.include.is_empty();
        let mut services = vec![];
        let mut failures = vec![];
        for reference in &input.services {
            match self.get_service(&cname, reference).await? {
                Some((s, _)) => services.push(self.render_service(&s, include_tags)),
                None => failures.push(json!({
                    "arn": if reference.starts_with("arn:") {
                        reference.clone()
                    } else {
                        self.scope.service_arn(&cname, reference)
                    },
                    "reason": "MISSING",
                })),
            }
        }
        Ok(json!({"services": services, "failures": failures}))
    }

    pub(crate) async fn list_services(
        &self,
        _ctx: &RequestContext,
        input: ListServicesInput,
    ) -> Result<Value, AwsError> {
        if let Some(lt) = &input.launch_type
            && !matches!(lt.as_str(), "EC2" | "FARGATE" | "EXTERNAL" | "MANAGED_INSTANCES")
        {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid launchType '{lt}'. Valid values: EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES."
            )));
        }
        if let Some(s) = &input.scheduling_strategy
            && !matches!(s.as_str(), "REPLICA" | "DAEMON")
        {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid schedulingStrategy '{s}'. Valid values: REPLICA, DAEMON."
            )));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let services: Vec<ServiceRecord> = typed::list(&*self.store, &keys::services_of(&cluster.cluster_name))
            .await
            .map_err(AwsError::state_store)?;
        let keyed: Vec<(String, String)> = services
            .into_iter()
            .filter(|s| s.status != ServiceStatus::Inactive)
            .filter(|s| {
                input.launch_type.as_ref().is_none_or(|l| {
                    let lt = s.launch_type.clone().unwrap_or_else(|| "FARGATE".into());
                    &lt == l
                })
            })
            .filter(|s| {
                input
                    .scheduling_strategy
                    .as_ref()
                    .is_none_or(|x| &s.scheduling_strategy == x)
            })
            .map(|s| (s.service_name, s.service_arn))
            .collect();
        let (page, next) = paginate(
            keyed,
            |(n, _)| n.clone(),
            input.next_token.as_deref(),
            input.max_results,
            10,
            100,
        )?;
        Ok(with_next_token(
            json!({"serviceArns": page.into_iter().map(|(_, a)| a).collect::<Vec<_>>()}),
            next,
        ))
    }
}

/// DescribeServices: on each service named.
pub(crate) struct DescribeServices;

#[async_trait]
impl Operation<Ecs> for DescribeServices {
    const NAME: &'static str = "DescribeServices";
    type Input = DescribeServicesInput;

    fn resources(scope: &Scope, input: &DescribeServicesInput) -> Vec<AuthzResource> {
        authz::in_cluster(
            scope,
            input.cluster.as_deref(),
            input.services.iter().map(String::as_str),
            Scope::service_arn,
        )
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: DescribeServicesInput) -> Result<Value, AwsError> {
        ecs.describe_services(ctx, input).await
    }
}

/// ListServices: on its cluster.
pub(crate) struct ListServices;

#[async_trait]
impl Operation<Ecs> for ListServices {
    const NAME: &'static str = "ListServices";
    type Input = ListServicesInput;

    fn resources(scope: &Scope, input: &ListServicesInput) -> Vec<AuthzResource> {
        vec![authz::cluster_resource(scope, input.cluster.as_deref())]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: ListServicesInput) -> Result<Value, AwsError> {
        ecs.list_services(ctx, input).await
    }
}
