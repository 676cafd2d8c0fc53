//! Tasks: the stored record (with its containers) and the pure rules of
//! running one.

mod records;
mod rules;
#[cfg(test)]
mod tests;

pub use records::*;
pub use rules::*;
