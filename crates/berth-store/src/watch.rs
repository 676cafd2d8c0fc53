//! The watch stream every backend shares: replay the change log from a
//! revision, then follow the live broadcast of committed batches, going back
//! to the log whenever the broadcast lags, so a watcher sees each change once,
//! in revision order, without gaps. A backend supplies how to read its log.

use crate::{Event, Result, Revision, WatchStream};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::broadcast;

/// A backend's change log, as the watch stream reads it.
pub(crate) trait ChangeLog: Clone + Send + Sync + 'static {
    /// Every logged change under `prefix` with revision `>= from`, in
    /// revision order, and the store's current revision; `Compacted` when
    /// `from` is older than what the log keeps.
    fn read_log(&self, prefix: String, from: Revision) -> impl Future<Output = Result<(Vec<Event>, Revision)>> + Send;
}

/// The stream of changes under `prefix` from `from_revision` (at least 1).
/// `rx` must be subscribed before the log is read, so that no committed batch
/// falls between the two; batches the log already covered are skipped.
pub(crate) fn stream<L: ChangeLog>(
    log: L,
    prefix: String,
    from_revision: Revision,
    rx: broadcast::Receiver<Arc<Vec<Event>>>,
) -> WatchStream {
    let from = from_revision.max(1);
    let stream = futures::stream::unfold(
        (log, prefix, from, rx, VecDeque::<Event>::new(), true),
        |(log, prefix, mut next, mut rx, mut buf, mut catch_up)| async move {
            loop {
                if let Some(ev) = buf.pop_front() {
                    return Some((Ok(ev), (log, prefix, next, rx, buf, catch_up)));
                }
                if catch_up {
                    match log.read_log(prefix.clone(), next).await {
                        Ok((events, current)) => {
                            buf.extend(events);
                            next = next.max(current + 1);
                            catch_up = false;
                            continue;
                        }
                        Err(e) => return Some((Err(e), (log, prefix, next, rx, buf, false))),
                    }
                }
                match rx.recv().await {
                    Ok(batch) => {
                        let Some(first) = batch.first() else { continue };
                        if first.revision < next {
                            continue;
                        }
                        next = first.revision + 1;
                        buf.extend(batch.iter().filter(|e| e.key.starts_with(&prefix)).cloned());
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => catch_up = true,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Box::pin(stream)
}

/// How many revisions of change log a backend keeps, by default, for
/// watchers that fall behind.
pub(crate) const LOG_RETENTION: Revision = 200_000;

/// After committing `rev`, the oldest revision the log must keep when it is
/// time to compact (every 1000 revisions, once more than `retention` exist);
/// the log then drops everything older and reports it as compacted.
pub(crate) fn compact_from(rev: Revision, retention: Revision) -> Option<Revision> {
    (rev % 1000 == 0 && rev > retention).then_some(rev - retention)
}
