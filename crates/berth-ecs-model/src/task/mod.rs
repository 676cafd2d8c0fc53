//! Tasks: the stored record (with its containers) and the pure rules of
//! running one.

mod records;
mod rules;
#[cfg(test)]
mod tests;

pub use records::*;
pub use rules::*;

/// The health ECS reports for a container (and a task) whose health is not
/// known: no health check, or none reported yet.
pub const UNKNOWN_HEALTH: &str = "UNKNOWN";
