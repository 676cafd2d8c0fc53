//! Test support for Berth's crates: fixtures written once instead of in
//! every test file. A dev-dependency only.
//!
//! * [`store`]: the in-memory store tests run on, or SQLite when a test needs a file.
//! * [`ecs`]: an ECS environment (store, `Ecs`, optional IAM, a root
//!   `RequestContext`) with `call`/`ok`/`err`.
//! * [`agents`]: simulated agents: registering container instances as a
//!   Berth agent does, and a hollow agent reporting task state changes.
//! * [`iam`]: a test secret sealer for IAM.
//! * [`poll`]: waiting for a condition under a deadline.

#![deny(rust_2018_idioms)]
#![forbid(unsafe_code)]

pub mod agents;
pub mod ecs;
pub mod iam;
pub mod poll;
pub mod store;

pub use ecs::{ACCOUNT, EcsEnv, REGION};
pub use poll::eventually;
pub use store::{memory_store, sqlite_store};
