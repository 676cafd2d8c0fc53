//! The data plane through real sockets on 127.0.0.1: in-process backends
//! behind a `Proxy`, driven by config snapshots.

mod apply;
mod downstream;
mod framing;
mod health;
mod reuse;
mod routing;
mod support;
mod tls_tcp;
