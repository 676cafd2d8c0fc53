//! A Network Load Balancer's TCP listener: each connection goes to one
//! target, chosen when it opens (round robin over the healthy targets, as
//! the group's balancer picks), and bytes are copied both ways until either
//! side closes. A connection with no target to take it, or whose target
//! refuses, is closed.

use crate::body::InFlight;
use crate::group::{Group, Pick};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A TCP listener's target group, swapped by `apply`.
pub(crate) type TcpCell = Arc<RwLock<Arc<Group>>>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn proxy<C>(mut client: C, peer: SocketAddr, routes: &TcpCell)
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let group = routes.read().unwrap_or_else(|p| p.into_inner()).clone();
    let Pick::Target(target, _) = group.pick(None, Instant::now()) else {
        tracing::debug!(%peer, group = %group.arn, "no target for a TCP connection");
        return;
    };
    let _in_flight = InFlight::start(target.clone());
    let upstream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&target.authority)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%peer, target = %target.authority, error = %e, "target refused a TCP connection");
            return;
        }
        Err(_) => return,
    };
    let _ = upstream.set_nodelay(true);
    let mut upstream = upstream;
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(%peer, error = %e, "TCP connection ended with an error");
    }
}
