//! DiscoverPollEndpoint: where an ECS agent polls for its work. Berth's
//! agents, ECS's included, reach every endpoint at the server's own
//! advertised URL ([`Ecs::with_endpoint`]).

use crate::Ecs;
use crate::authz::{self, arn_in_cluster};
use crate::operation::Operation;
use crate::references::cluster_name;
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DiscoverPollEndpointInput {
    cluster: Option<String>,
    container_instance: Option<String>,
}

/// DiscoverPollEndpoint, authorized on the container instance named (with
/// `ecs:cluster`), or on the cluster when none is, as the agent's other
/// operations are.
pub(crate) struct DiscoverPollEndpoint;

#[async_trait]
impl Operation<Ecs> for DiscoverPollEndpoint {
    const NAME: &'static str = "DiscoverPollEndpoint";
    type Input = DiscoverPollEndpointInput;

    fn resources(scope: &Scope, input: &DiscoverPollEndpointInput) -> Vec<AuthzResource> {
        let arn = match (&input.container_instance, cluster_name(input.cluster.as_deref())) {
            (Some(i), _) => arn_in_cluster(scope, input.cluster.as_deref(), Some(i), Scope::container_instance_arn),
            (None, Ok(c)) => scope.cluster_arn(&c),
            (None, Err(_)) => "*".to_string(),
        };
        vec![authz::resource(scope, arn, vec![])]
    }

    async fn run(ecs: &Ecs, _ctx: &RequestContext, input: DiscoverPollEndpointInput) -> Result<Value, AwsError> {
        cluster_name(input.cluster.as_deref())?;
        let endpoint = ecs
            .endpoint
            .as_deref()
            .ok_or_else(|| AwsError::internal("this server advertises no endpoint"))?;
        Ok(poll_endpoints(endpoint))
    }
}

/// The answer: every endpoint is the server's advertised URL (pure).
pub fn poll_endpoints(endpoint: &str) -> Value {
    json!({
        "endpoint": endpoint,
        "telemetryEndpoint": endpoint,
        "serviceConnectEndpoint": endpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_poll_the_advertised_url_on_their_instance() {
        let v = poll_endpoints("https://berth.example:4600");
        for field in ["endpoint", "telemetryEndpoint", "serviceConnectEndpoint"] {
            assert_eq!(v[field], "https://berth.example:4600");
        }
        let s = Scope::new("us-east-1", "000000000000");
        let input = |v: Value| DiscoverPollEndpoint::decode(v).unwrap();
        let r = DiscoverPollEndpoint::resources(&s, &input(json!({"cluster": "c", "containerInstance": "i1"})));
        assert_eq!(r[0].arn, "arn:aws:ecs:us-east-1:000000000000:container-instance/c/i1");
        assert_eq!(r[0].condition_keys[0].1, "arn:aws:ecs:us-east-1:000000000000:cluster/c");
        let r = DiscoverPollEndpoint::resources(&s, &input(json!({})));
        assert_eq!(r[0].arn, "arn:aws:ecs:us-east-1:000000000000:cluster/default");
    }
}
