//! Berth's shared domain: ARNs and ids, names, the tag rule every service
//! shares, time formats, the server's time scale, backoff, secret references. Pure: no IO. The ECS
//! model (records, statuses, task definitions, their rules) is `berth-ecs-model`.

pub mod arn;
pub mod backoff;
pub mod ids;
pub mod names;
pub mod secrets_ref;
pub mod tags;
pub mod time;
pub mod time_scale;
