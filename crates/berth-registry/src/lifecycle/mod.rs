//! ECR lifecycle policies, pure: the policy text parsed and validated as
//! ECR validates it ([`Policy::parse`]), and its evaluation over a
//! repository's images ([`evaluate`]). No IO here: the ECR operations
//! (`ecr/lifecycle.rs`) and the evaluation loop (`crate::lifecycle_run`)
//! feed them records and a clock.

mod evaluate;
mod policy;
#[cfg(test)]
mod properties;

pub use evaluate::{Expiry, ImageFacts, evaluate};
pub use policy::{CountType, Policy, PolicyError, Rule, TagSelection};
