//! ECS task placement for Berth: constraints, the cluster query language,
//! strategies and resource accounting.
//!
//! Pure: no IO, no async, no store. The caller loads the container
//! instances of a cluster into [`InstanceView`]s, describes the tasks in a
//! [`PlacementRequest`] and calls [`place`] with a random number generator
//! (seed it for reproducible placements):
//!
//! ```
//! use berth_scheduler::{InstanceView, PlacementRequest, PlacementStrategy, TaskDemand, place};
//! use rand::{SeedableRng, rngs::StdRng};
//!
//! let mut instances = vec![
//!     InstanceView::new("arn:aws:ecs:us-east-1:1:container-instance/c/a", "i-a", 2048, 4096),
//!     InstanceView::new("arn:aws:ecs:us-east-1:1:container-instance/c/b", "i-b", 2048, 4096),
//! ];
//! let request = PlacementRequest {
//!     demand: TaskDemand { cpu: 256, memory: 512, ..Default::default() },
//!     group: "family:web".into(),
//!     strategies: vec![PlacementStrategy::binpack("memory")],
//!     count: 3,
//!     ..Default::default()
//! };
//! let placement = place(&mut instances, &request, &mut StdRng::seed_from_u64(7)).unwrap();
//! assert_eq!(placement.placements.len(), 3);
//! // binpack fills one instance first
//! assert!(placement.placements.iter().all(|(_, arn)| *arn == placement.placements[0].1));
//! ```
//!
//! The cluster query language evaluator is shared with the
//! ListContainerInstances `filter`: [`parse_expression`], then
//! [`Expr::matches`].
//!
//! # ECS behaviour and the choices made where it is not documented
//!
//! - **Default strategy.** The ECS guide documents a default only for
//!   services (spread on `attribute:ecs.availability-zone`); standalone
//!   tasks are placed randomly. An empty `strategies` list therefore means
//!   `random`; [`service_default_strategies`] gives `spread(az)` then
//!   `spread(instanceId)` for services created without strategies.
//! - **Chained strategies** rank lexicographically: each strategy only
//!   orders the instances the previous ones left tied; `random` ends the
//!   chain (strategies after it can't matter). Remaining ties are always
//!   broken uniformly at random.
//! - **binpack** prefers the least remaining `cpu`/`memory` among the
//!   instances the task fits on.
//! - **spread** counts tasks *of the request's group* (`service:NAME` for a
//!   service, as ECS spreads a service's tasks by that service) per value
//!   of the field, over every instance passed in, whatever its status;
//!   instances lacking the attribute form one bucket of their own.
//! - **distinctInstance**: an instance is rejected if it already runs a
//!   task of the request's group, including one placed earlier in the same
//!   call.
//! - **Failures**: ECS reports one `Failure {arn, reason}` per instance.
//!   Reasons are checked in the order AGENT, ATTRIBUTE (`requiresAttributes`),
//!   RESOURCE:CPU, RESOURCE:MEMORY, RESOURCE:PORTS (TCP or UDP),
//!   distinctInstance, memberOf; the first that applies is reported. The
//!   two constraints report the ECS code `ATTRIBUTE` (with detail
//!   `DistinctInstance placement constraint unsatisfied` /
//!   `MemberOf placement constraint unsatisfied`, the wording of ECS service
//!   events), but keep distinct [`FailureReason`] variants. Instances that
//!   are not `ACTIVE` are not candidates and not reported; when no instance
//!   is `ACTIVE`, [`place`] returns
//!   [`PlacementError::NoContainerInstances`] ("No Container Instances were
//!   found in your cluster.", an `InvalidParameterException` in ECS).
//! - **Ports**: `PORTS`/`PORTS_UDP` are sets of taken host ports; only fixed
//!   host ports are accounted, dynamic ones belong to the agent.
//! - **Query language** details are listed in [`query`].

pub mod placement;
pub mod query;
pub mod resources;
pub mod types;

pub use placement::{
    MAX_CONSTRAINTS, MAX_STRATEGIES, PlacementError, ZONE_ATTRIBUTE, place, place_shared, service_default_strategies,
    validate, zone_of,
};
pub use query::{
    Argument, Condition, Expr, MAX_EXPRESSION_LEN, Operator, Pattern, QueryError, Subject, Value, parse_expression,
};
pub use resources::{check_fit, release, reserve};
pub use types::{
    ConstraintType, Failure, FailureReason, InstanceStatus, InstanceView, Placement, PlacementConstraint,
    PlacementRequest, PlacementStrategy, RequiredAttribute, Resources, StrategyType, TaskDemand, TaskOnInstance,
};
