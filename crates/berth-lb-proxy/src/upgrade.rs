//! Protocol upgrades through an HTTP/1.1 listener (WebSocket, as ALB
//! supports): the client's `Connection: upgrade` request goes to the target
//! with its `Upgrade` header; when the target switches protocols (101), the
//! two upgraded connections are joined and bytes copied both ways until
//! either closes. The target's in-flight count lasts as long as the tunnel.

use crate::body::{InFlight, ProxyBody, full};
use crate::upstream::Conn;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

/// A client's request to switch protocols.
pub(crate) struct Requested {
    protocol: HeaderValue,
    client: OnUpgrade,
}

/// The upgrade an HTTP/1.1 request asks for, if any.
pub(crate) fn requested(request: &mut Request<Incoming>) -> Option<Requested> {
    if request.version() != Version::HTTP_11 {
        return None;
    }
    let asks = request
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let protocol = request.headers().get(header::UPGRADE)?.clone();
    asks.then(|| Requested {
        protocol,
        client: hyper::upgrade::on(request),
    })
}

/// Asks the target for the same upgrade (the headers were dropped as
/// hop-by-hop).
pub(crate) fn ask(requested: &Requested, headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, requested.protocol.clone());
}

/// The target switched protocols (to `protocol`, its `Upgrade` header):
/// joins the client's upgraded connection and the target's (`conn`, with
/// any bytes it sent after its 101) in a task and answers the client with
/// the target's 101 (`response`).
pub(crate) fn tunnel(
    requested: Requested,
    response: Response<()>,
    protocol: Option<HeaderValue>,
    conn: Conn,
    in_flight: InFlight,
) -> Response<ProxyBody> {
    let (mut target, early) = conn.into_upgraded();
    tokio::spawn(async move {
        if let Ok(client) = requested.client.await {
            let mut client = TokioIo::new(client);
            let copied = async {
                client.write_all(&early).await?;
                tokio::io::copy_bidirectional(&mut client, &mut target).await
            };
            if let Err(e) = copied.await {
                tracing::debug!(error = %e, "upgraded connection ended with an error");
            }
        }
        drop(in_flight);
    });
    let (mut parts, ()) = response.into_parts();
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Some(protocol) = protocol {
        parts.headers.insert(header::UPGRADE, protocol);
    }
    Response::from_parts(parts, full(bytes::Bytes::new()))
}
