//! Tasks: the stored record (with its containers) and the pure rules of
//! running one.

mod attachment;
mod client_token;
mod launch;
mod records;
mod sizing;
mod spot;
mod state_change;
#[cfg(test)]
mod tests;

pub use attachment::*;
pub use client_token::*;
pub use launch::*;
pub use records::*;
pub use sizing::*;
pub use spot::*;
pub use state_change::*;
