//! The body of an answer: the target's, streamed through while it holds
//! the target's outstanding-request count (released when the body ends or
//! is dropped, so draining and least-outstanding-requests see in-flight
//! requests until they complete), or one the load balancer wrote. The
//! target's body gives its connection back once read whole
//! ([`crate::upstream::TargetBody`]).

use crate::upstream::{TargetBody, TargetShared};
use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, SizeHint};
use std::io;
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
        target.requests.add(1);
        InFlight(target)
    }

    /// The target it counts against (held here, not cloned: a clone is a
    /// write to the reference count that every thread's requests share).
    pub(crate) fn target(&self) -> &Arc<TargetShared> {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Relaxed);
    }
}

/// The target's body and its request's [`InFlight`].
#[derive(Debug)]
pub(crate) struct Guarded {
    body: TargetBody,
    _in_flight: InFlight,
}

impl Guarded {
    pub(crate) fn new(body: TargetBody, in_flight: InFlight) -> ProxyBody {
        Either::Left(Guarded {
            body,
            _in_flight: in_flight,
        })
    }
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
