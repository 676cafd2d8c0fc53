//! The system calls Berth makes that neither std nor rustix wraps safely.
//! This crate holds the workspace's only `unsafe` code (every other crate
//! forbids it): each call sits in one small function with its safety
//! argument, behind a safe one (docs/architecture.md, "Lints").

pub mod slice;
