//! Berth's domain: ARNs and ids, the ECS resource shapes, and the validation
//! rules that decide what a request may create. Pure: no IO.

pub mod arn;
pub mod backoff;
pub mod ecs;
pub mod ids;
pub mod names;
pub mod secrets_ref;
pub mod tags;
pub mod time;
