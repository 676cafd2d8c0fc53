//! IAM and STS handlers against a real store, with requests authenticated
//! by SigV4 like the server does, and an injected clock for expiry.

mod support;

mod managed;
mod roles;
mod sealing;
mod users;
