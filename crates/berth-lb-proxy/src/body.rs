//! The body of an answer: the target's, streamed through while it holds
//! the target's outstanding-request count (released when the body ends or
//! is dropped, so draining and least-outstanding-requests see in-flight
//! requests until they complete), or one the load balancer wrote. A
//! target's body read whole gives its connection back to the client
//! connection's [`Upstreams`] for the next request.

use crate::upstream::TargetShared;
use crate::upstream::Upstreams;
use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};

/// What the proxy answers with.
pub(crate) type ProxyBody = Either<Guarded, Full<Bytes>>;

/// A body the load balancer wrote.
pub(crate) fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Either::Right(Full::new(bytes.into()))
}

/// One outstanding request to a target; counted down when dropped.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<TargetShared>);

impl InFlight {
    pub(crate) fn start(target: Arc<TargetShared>) -> InFlight {
        target.outstanding.fetch_add(1, Relaxed);
        target.requests.fetch_add(1, Relaxed);
        InFlight(target)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Relaxed);
    }
}

/// The target's body, its request's [`InFlight`] and the connection it
/// came on (kept for the next request once the body is read whole).
#[derive(Debug)]
pub(crate) struct Guarded {
    body: Incoming,
    in_flight: InFlight,
    reuse: Option<(Arc<Upstreams>, SendRequest<Incoming>)>,
    /// Its last frame was read.
    ended: bool,
}

impl Guarded {
    pub(crate) fn new(
        body: Incoming,
        in_flight: InFlight,
        reuse: Option<(Arc<Upstreams>, SendRequest<Incoming>)>,
    ) -> ProxyBody {
        Either::Left(Guarded {
            body,
            in_flight,
            reuse,
            ended: false,
        })
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // A body dropped before its end leaves the rest unread on the
        // connection: that one closes.
        if let Some((upstreams, sender)) = self.reuse.take()
            && (self.ended || self.body.is_end_stream())
        {
            upstreams.put(&self.in_flight.0, sender);
        }
    }
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let poll = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(poll, Poll::Ready(None)) {
            self.ended = true;
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
