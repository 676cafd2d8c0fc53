//! Task placement: filter container instances, rank them by strategy, pick,
//! account, repeat.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rand::Rng;

use crate::query::{Expr, QueryError, parse_expression};
use crate::resources::{reserve, shortfall, shortfall_detail};
use crate::types::{
    ConstraintType, Failure, FailureReason, InstanceStatus, InstanceView, Placement, PlacementConstraint,
    PlacementRequest, PlacementStrategy, StrategyType, TaskOnInstance,
};

/// Most placement constraints one request may carry (task definition's and
/// request's together).
pub const MAX_CONSTRAINTS: usize = 10;

/// Most placement strategies one request may carry.
pub const MAX_STRATEGIES: usize = 5;

/// A request that can't be placed as asked. Every variant maps to an
/// `InvalidParameterException` at the API; `Display` gives its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// A `memberOf` expression does not parse.
    #[error(transparent)]
    InvalidExpression(#[from] QueryError),
    /// A constraint is malformed (missing or superfluous expression).
    #[error("Invalid placement constraint: {0}")]
    InvalidConstraint(String),
    /// A strategy is malformed (missing or unknown field).
    #[error("Invalid placement strategy: {0}")]
    InvalidStrategy(String),
    /// More than [`MAX_CONSTRAINTS`] constraints.
    #[error("Too many placement constraints: {0} were given (task definition and request together); the maximum is 10")]
    TooManyConstraints(usize),
    /// More than [`MAX_STRATEGIES`] strategies.
    #[error("Too many placement strategies: {0} were given; the maximum is 5")]
    TooManyStrategies(usize),
    /// No `ACTIVE` container instance at all: ECS answers RunTask on such a
    /// cluster with this `InvalidParameterException` instead of failures.
    #[error("No Container Instances were found in your cluster.")]
    NoContainerInstances,
}

/// The default strategies of the service scheduler: spread across
/// Availability Zones, then across instances.
///
/// The ECS guide states that tasks of a service are spread on
/// `attribute:ecs.availability-zone` by default, and that the service
/// scheduler favours, within a zone, the instances with the fewest tasks of
/// the service — hence the second `spread(instanceId)`. Standalone tasks
/// (RunTask) have no documented default strategy beyond being placed
/// randomly; [`place`] uses `random` when `strategies` is empty, so callers
/// creating a service without strategies pass these instead.
pub fn service_default_strategies() -> Vec<PlacementStrategy> {
    vec![
        PlacementStrategy::spread("attribute:ecs.availability-zone"),
        PlacementStrategy::spread("instanceId"),
    ]
}

/// Checks constraints and strategies the way [`place`] would, without
/// instances: for CreateService, UpdateService and RegisterTaskDefinition.
pub fn validate(constraints: &[PlacementConstraint], strategies: &[PlacementStrategy]) -> Result<(), PlacementError> {
    Compiled::new(constraints, strategies).map(|_| ())
}

/// How one strategy ranks an instance: lower is better.
enum Rank {
    BinpackCpu,
    BinpackMemory,
    SpreadInstance,
    /// Index into the per-request spread tables.
    SpreadAttribute(usize),
}

struct Compiled {
    distinct: bool,
    member_of: Vec<(Expr, String)>,
    ranks: Vec<Rank>,
    /// Attribute names spread on, indexed by `Rank::SpreadAttribute`.
    spread_attributes: Vec<String>,
}

impl Compiled {
    fn new(constraints: &[PlacementConstraint], strategies: &[PlacementStrategy]) -> Result<Self, PlacementError> {
        if constraints.len() > MAX_CONSTRAINTS {
            return Err(PlacementError::TooManyConstraints(constraints.len()));
        }
        if strategies.len() > MAX_STRATEGIES {
            return Err(PlacementError::TooManyStrategies(strategies.len()));
        }
        let mut distinct = false;
        let mut member_of = Vec::new();
        for c in constraints {
            let expression = c.expression.as_deref().filter(|e| !e.trim().is_empty());
            match (c.kind, expression) {
                (ConstraintType::DistinctInstance, None) => distinct = true,
                (ConstraintType::DistinctInstance, Some(_)) => {
                    return Err(PlacementError::InvalidConstraint(
                        "an expression can't be specified for the distinctInstance constraint type".into(),
                    ));
                }
                (ConstraintType::MemberOf, None) => {
                    return Err(PlacementError::InvalidConstraint(
                        "the memberOf constraint type requires an expression, e.g. attribute:ecs.instance-type =~ t2.*"
                            .into(),
                    ));
                }
                (ConstraintType::MemberOf, Some(e)) => {
                    member_of.push((parse_expression(e)?, e.to_string()));
                }
            }
        }
        let mut ranks = Vec::new();
        let mut spread_attributes: Vec<String> = Vec::new();
        // Every strategy is validated; ranking stops at the first `random`,
        // which breaks all remaining ties by itself (ties are always broken
        // uniformly at random at the end).
        let mut ranking = true;
        for s in strategies {
            let field = s.field.as_deref().map(str::trim).filter(|f| !f.is_empty());
            let rank = match (s.kind, field) {
                (StrategyType::Random, _) => {
                    ranking = false;
                    continue;
                }
                (StrategyType::Binpack, Some(f)) if f.eq_ignore_ascii_case("cpu") => Rank::BinpackCpu,
                (StrategyType::Binpack, Some(f)) if f.eq_ignore_ascii_case("memory") => Rank::BinpackMemory,
                (StrategyType::Binpack, f) => {
                    return Err(PlacementError::InvalidStrategy(format!(
                        "the binpack strategy needs field cpu or memory, not {}",
                        f.map_or("nothing".to_string(), |f| format!("'{f}'"))
                    )));
                }
                (StrategyType::Spread, Some(f))
                    if f.eq_ignore_ascii_case("instanceId") || f.eq_ignore_ascii_case("host") =>
                {
                    Rank::SpreadInstance
                }
                (StrategyType::Spread, Some(f))
                    if f.len() > 10 && f.get(..10).is_some_and(|p| p.eq_ignore_ascii_case("attribute:")) =>
                {
                    let name = f[10..].to_string();
                    let idx = match spread_attributes.iter().position(|a| *a == name) {
                        Some(i) => i,
                        None => {
                            spread_attributes.push(name);
                            spread_attributes.len() - 1
                        }
                    };
                    Rank::SpreadAttribute(idx)
                }
                (StrategyType::Spread, f) => {
                    return Err(PlacementError::InvalidStrategy(format!(
                        "the spread strategy needs field instanceId, host or attribute:NAME, not {}",
                        f.map_or("nothing".to_string(), |f| format!("'{f}'"))
                    )));
                }
            };
            if ranking {
                ranks.push(rank);
            }
        }
        Ok(Self {
            distinct,
            member_of,
            ranks,
            spread_attributes,
        })
    }
}

/// Per-request bookkeeping, updated incrementally as tasks land.
struct State {
    /// Whether each instance has the request's required attributes.
    attrs_ok: Vec<bool>,
    /// Tasks of the request's group on each instance.
    group_count: Vec<u32>,
    /// Per spread attribute: the bucket (attribute value) of each instance.
    bucket_of: Vec<Vec<u32>>,
    /// Per spread attribute: tasks of the group per bucket, over all
    /// instances given (whatever their status).
    bucket_count: Vec<Vec<u64>>,
}

impl State {
    /// Builds the bookkeeping and the first candidate list in one pass, so
    /// each instance's data is read once while it is in cache.
    fn new<V: Borrow<InstanceView>>(
        instances: &[V],
        request: &PlacementRequest,
        compiled: &Compiled,
    ) -> (Self, Vec<usize>) {
        // Only distinctInstance and spread look at the group: skip the scan
        // of every task otherwise.
        let needs_groups = compiled.distinct
            || compiled
                .ranks
                .iter()
                .any(|r| matches!(r, Rank::SpreadInstance | Rank::SpreadAttribute(_)));
        let spreads = compiled.spread_attributes.len();
        let mut group_count = Vec::with_capacity(instances.len());
        // Per spread attribute, the value-to-bucket map; instances without
        // the attribute share one bucket of their own.
        let mut ids: Vec<HashMap<Option<&str>, u32>> = vec![HashMap::new(); spreads];
        let mut bucket_of = vec![Vec::with_capacity(instances.len()); spreads];
        let mut bucket_count: Vec<Vec<u64>> = vec![Vec::new(); spreads];
        let mut candidates = Vec::new();
        let mut attrs_ok = Vec::with_capacity(instances.len());
        let mut attrs_checked: HashMap<usize, bool> = HashMap::new();
        for (i, inst) in instances.iter().enumerate() {
            let inst = inst.borrow();
            let groups = if needs_groups {
                inst.tasks.iter().filter(|t| t.group == request.group).count() as u32
            } else {
                0
            };
            group_count.push(groups);
            for (a, name) in compiled.spread_attributes.iter().enumerate() {
                let value = inst.attributes.get(name).map(|v| v.as_deref().unwrap_or(""));
                let next = ids[a].len() as u32;
                let b = *ids[a].entry(value).or_insert(next);
                if b as usize == bucket_count[a].len() {
                    bucket_count[a].push(0);
                }
                bucket_count[a][b as usize] += u64::from(groups);
                bucket_of[a].push(b);
            }
            // Instances often share one attribute map (the control plane
            // interns them): check the required attributes once per map.
            let key = Arc::as_ptr(&inst.attributes) as usize;
            let ok = *attrs_checked
                .entry(key)
                .or_insert_with(|| has_required_attributes(inst, request));
            attrs_ok.push(ok);
            if inst.status == InstanceStatus::Active && rejection(inst, request, compiled, groups, ok).is_none() {
                candidates.push(i);
            }
        }
        let state = Self {
            attrs_ok,
            group_count,
            bucket_of,
            bucket_count,
        };
        (state, candidates)
    }

    fn key(&self, ranks: &[Rank], i: usize, inst: &InstanceView) -> [u64; MAX_STRATEGIES] {
        let mut key = [0u64; MAX_STRATEGIES];
        for (slot, rank) in key.iter_mut().zip(ranks) {
            *slot = match rank {
                Rank::BinpackCpu => u64::from(inst.remaining.cpu),
                Rank::BinpackMemory => u64::from(inst.remaining.memory),
                Rank::SpreadInstance => u64::from(self.group_count[i]),
                Rank::SpreadAttribute(a) => self.bucket_count[*a][self.bucket_of[*a][i] as usize],
            };
        }
        key
    }

    fn record(&mut self, i: usize) {
        self.group_count[i] += 1;
        for (of, counts) in self.bucket_of.iter().zip(&mut self.bucket_count) {
            counts[of[i] as usize] += 1;
        }
    }
}

/// Why an `ACTIVE` instance can't take the next task, in the order ECS
/// filters: agent, required attributes, resources, constraints.
fn rejection(
    inst: &InstanceView,
    request: &PlacementRequest,
    compiled: &Compiled,
    group_count: u32,
    has_attributes: bool,
) -> Option<FailureReason> {
    if !inst.agent_connected {
        return Some(FailureReason::Agent);
    }
    if !has_attributes {
        return Some(FailureReason::Attribute);
    }
    if !in_zones(inst, &request.zones) {
        return Some(FailureReason::AvailabilityZone);
    }
    if let Some(r) = shortfall(inst, &request.demand) {
        return Some(r);
    }
    if compiled.distinct && group_count > 0 {
        return Some(FailureReason::DistinctInstance);
    }
    if compiled.member_of.iter().any(|(e, _)| !e.matches(inst)) {
        return Some(FailureReason::MemberOf);
    }
    None
}

/// The instance's availability zone (`ecs.availability-zone`), if it has one.
pub fn zone_of(inst: &InstanceView) -> Option<&str> {
    inst.attributes.get(ZONE_ATTRIBUTE).and_then(|v| v.as_deref())
}

/// The attribute an instance's availability zone is registered with.
pub const ZONE_ATTRIBUTE: &str = "ecs.availability-zone";

/// Whether the instance is in one of `zones` (any zone when there are none).
fn in_zones(inst: &InstanceView, zones: &[String]) -> bool {
    zones.is_empty() || zone_of(inst).is_some_and(|z| zones.iter().any(|w| w == z))
}

fn has_required_attributes(inst: &InstanceView, request: &PlacementRequest) -> bool {
    request
        .required_attributes
        .iter()
        .all(|ra| match inst.attributes.get(&ra.name) {
            None => false,
            Some(have) => ra.value.is_none() || have.as_deref() == ra.value.as_deref(),
        })
}

fn failure_for(inst: &InstanceView, request: &PlacementRequest, compiled: &Compiled, reason: FailureReason) -> Failure {
    let detail = match reason {
        FailureReason::Agent => "the container agent is disconnected".to_string(),
        FailureReason::Attribute => {
            let missing: Vec<String> = request
                .required_attributes
                .iter()
                .filter(|ra| match inst.attributes.get(&ra.name) {
                    None => true,
                    Some(have) => ra.value.is_some() && have.as_deref() != ra.value.as_deref(),
                })
                .map(|ra| match &ra.value {
                    Some(v) => format!("{}={v}", ra.name),
                    None => ra.name.clone(),
                })
                .collect();
            format!("missing required attribute {}", missing.join(", "))
        }
        FailureReason::DistinctInstance => format!(
            "DistinctInstance placement constraint unsatisfied: the instance already runs a task of group '{}'",
            request.group
        ),
        FailureReason::MemberOf => {
            let failed: Vec<&str> = compiled
                .member_of
                .iter()
                .filter(|(e, _)| !e.matches(inst))
                .map(|(_, src)| src.as_str())
                .collect();
            format!("MemberOf placement constraint unsatisfied: {}", failed.join("; "))
        }
        FailureReason::AvailabilityZone => format!(
            "the instance is in availability zone {}, and none of the task's subnets is (they are in {})",
            zone_of(inst).unwrap_or("(none)"),
            request.zones.join(", ")
        ),
        _ => shortfall_detail(inst, &request.demand, reason),
    };
    Failure {
        arn: inst.id.clone(),
        reason,
        detail,
    }
}

/// Places `request.count` tasks on `instances`, one after another.
///
/// For each task: the candidates are the `ACTIVE` instances whose agent is
/// connected, that have the required attributes, the CPU, memory and fixed
/// host ports, and satisfy every constraint (tasks placed earlier in this
/// call count as running on their instance). They are ranked by the
/// strategies in order — each one only breaks the ties left by those before
/// it — and the remaining ties are broken uniformly with `rng`. The task's
/// resources are then taken from the chosen instance and the task is
/// appended to its `tasks`, so on return `instances` reflects the
/// placements.
///
/// When a task can't be placed, neither can the ones after it (nothing
/// changed): placing stops and `failures` lists every `ACTIVE` instance
/// with the reason it was rejected.
///
/// Cost: one pass over the instances to filter, then one pass over the
/// candidates per task; only the chosen instance is re-checked.
pub fn place<R: Rng + ?Sized>(
    instances: &mut [InstanceView],
    request: &PlacementRequest,
    rng: &mut R,
) -> Result<Placement, PlacementError> {
    let (placement, updated) = place_shared(instances, request, rng)?;
    for (i, view) in updated {
        instances[i] = view;
    }
    Ok(placement)
}

/// [`place`] over instances it may not change (e.g. `Arc`s shared with a
/// cache): the instances the placements changed come back, by index, as
/// they are after the placements; the others are untouched and never
/// copied.
pub fn place_shared<V: Borrow<InstanceView>, R: Rng + ?Sized>(
    instances: &[V],
    request: &PlacementRequest,
    rng: &mut R,
) -> Result<(Placement, Vec<(usize, InstanceView)>), PlacementError> {
    let compiled = Compiled::new(&request.constraints, &request.strategies)?;
    if !instances.iter().any(|i| i.borrow().status == InstanceStatus::Active) {
        return Err(PlacementError::NoContainerInstances);
    }
    let mut out = Placement::default();
    if request.count == 0 {
        return Ok((out, vec![]));
    }
    let (mut state, mut candidates) = State::new(instances, request, &compiled);
    // The instances changed so far, copied on their first placement.
    let mut changed: HashMap<usize, InstanceView> = HashMap::new();
    let mut ties: Vec<usize> = Vec::new();
    for task in 0..request.count as usize {
        if candidates.is_empty() {
            out.failures = explain(instances, &changed, request, &compiled, &state);
            break;
        }
        // Best key over the candidates; `ties` holds positions in
        // `candidates` sharing it.
        let mut best = [u64::MAX; MAX_STRATEGIES];
        ties.clear();
        for (pos, &i) in candidates.iter().enumerate() {
            let inst = changed.get(&i).unwrap_or_else(|| instances[i].borrow());
            let key = state.key(&compiled.ranks, i, inst);
            match key.cmp(&best) {
                std::cmp::Ordering::Less => {
                    best = key;
                    ties.clear();
                    ties.push(pos);
                }
                std::cmp::Ordering::Equal => ties.push(pos),
                std::cmp::Ordering::Greater => {}
            }
        }
        let pos = if ties.len() == 1 {
            ties[0]
        } else {
            ties[rng.gen_range(0..ties.len())]
        };
        let chosen = candidates[pos];
        let inst = changed
            .entry(chosen)
            .or_insert_with(|| instances[chosen].borrow().clone());
        reserve(inst, &request.demand);
        Arc::make_mut(&mut inst.tasks).push(TaskOnInstance {
            group: request.group.clone(),
            family: request.family.clone(),
            task_definition_arn: request.task_definition_arn.clone(),
        });
        state.record(chosen);
        out.placements.push((task, inst.id.clone()));
        if rejection(
            inst,
            request,
            &compiled,
            state.group_count[chosen],
            state.attrs_ok[chosen],
        )
        .is_some()
        {
            candidates.swap_remove(pos);
        }
    }
    let mut updated: Vec<(usize, InstanceView)> = changed.into_iter().collect();
    updated.sort_by_key(|(i, _)| *i);
    Ok((out, updated))
}

fn explain<V: Borrow<InstanceView>>(
    instances: &[V],
    changed: &HashMap<usize, InstanceView>,
    request: &PlacementRequest,
    compiled: &Compiled,
    state: &State,
) -> Vec<Failure> {
    let mut seen = HashSet::new();
    (0..instances.len())
        .map(|i| (i, changed.get(&i).unwrap_or_else(|| instances[i].borrow())))
        .filter(|(_, inst)| inst.status == InstanceStatus::Active)
        .filter_map(|(i, inst)| {
            let reason = rejection(inst, request, compiled, state.group_count[i], state.attrs_ok[i])?;
            seen.insert(inst.id.as_str())
                .then(|| failure_for(inst, request, compiled, reason))
        })
        .collect()
}
