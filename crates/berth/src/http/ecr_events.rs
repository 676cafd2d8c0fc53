//! The events ECR sends to EventBridge: the registry reports each committed
//! image action (push, delete) through `berth_registry::events::ImageEvents`;
//! this sends it as an `ECR Image Action` (source `aws.ecr`, no resources,
//! as ECR sends it) off the request path, in the order they happened (one
//! sender task behind a queue).

use berth_registry::events::{IMAGE_ACTION, ImageAction, ImageEvents, SOURCE};
use tokio::sync::mpsc;

pub(crate) struct EcrEvents(mpsc::UnboundedSender<ImageAction>);

impl EcrEvents {
    pub(crate) fn start(events: berth_events::Events) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<ImageAction>();
        tokio::spawn(async move {
            while let Some(action) = rx.recv().await {
                if let Err(e) = events.emit(SOURCE, IMAGE_ACTION, &[], action.detail()).await {
                    tracing::warn!(repository = %action.repository, digest = %action.digest,
                        error = %e.message, "ECR events: cannot send an image action");
                }
            }
        });
        Self(tx)
    }
}

impl ImageEvents for EcrEvents {
    fn image_action(&self, action: ImageAction) {
        // The receiver lives as long as the runtime.
        let _ = self.0.send(action);
    }
}
