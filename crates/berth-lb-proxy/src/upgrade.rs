//! Protocol upgrades through an HTTP/1.1 listener (WebSocket, as ALB
//! supports): the client's `Connection: upgrade` request goes to the target
//! with its `Upgrade` header ([`crate::serve_h1`]); when the target
//! switches protocols (101), the client's connection and the target's are
//! joined and bytes copied both ways until either closes. The target's
//! in-flight count lasts as long as the tunnel.

use crate::upstream::Conn;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Joins the client's connection (`client`, with the bytes it sent after
/// its request: `client_early`) and the target's (`conn`, with any bytes
/// it sent after its 101) until either closes.
pub(crate) async fn tunnel<I>(client: &mut I, client_early: BytesMut, conn: Conn)
where
    I: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let (mut target, early) = conn.into_upgraded();
    let copied = async {
        if !early.is_empty() {
            client.write_all(&early).await?;
            client.flush().await?;
        }
        if !client_early.is_empty() {
            target.write_all(&client_early).await?;
        }
        tokio::io::copy_bidirectional(client, &mut target).await
    };
    if let Err(e) = copied.await {
        tracing::debug!(error = %e, "upgraded connection ended with an error");
    }
}
