//! ECS resource shapes (as stored and as returned) and their validation.

pub mod cluster;
pub mod launch;
pub mod status;
pub mod tags;
pub mod task_status;
pub mod taskdef;

pub use cluster::*;
pub use launch::*;
pub use status::*;
pub use tags::*;
pub use task_status::*;
pub use taskdef::*;
