//! The events ECR sends to EventBridge: the registry reports each committed
//! image action (push, delete) and each finished scan through
//! `berth_registry::events::ImageEvents`; this sends them as `ECR Image
//! Action` (no resources, as ECR sends it) and `ECR Image Scan` (the
//! repository's ARN in resources) events, source `aws.ecr`, off the request
//! path, in the order they happened (one sender task behind a queue).

use berth_registry::events::{IMAGE_ACTION, IMAGE_SCAN, ImageAction, ImageEvents, ImageScan, SOURCE};
use tokio::sync::mpsc;

enum Event {
    Action(ImageAction),
    Scan(ImageScan),
}

pub(crate) struct EcrEvents(mpsc::UnboundedSender<Event>);

impl EcrEvents {
    pub(crate) fn start(events: berth_events::Events) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let (detail_type, resources, detail) = match &ev {
                    Event::Action(a) => (IMAGE_ACTION, vec![], a.detail()),
                    Event::Scan(s) => (IMAGE_SCAN, vec![s.repository_arn.clone()], s.detail()),
                };
                if let Err(e) = events.emit(SOURCE, detail_type, &resources, detail).await {
                    tracing::warn!(detail_type, error = %e.message, "ECR events: cannot send an event");
                }
            }
        });
        Self(tx)
    }
}

impl ImageEvents for EcrEvents {
    // The receiver lives as long as the runtime.
    fn image_action(&self, action: ImageAction) {
        let _ = self.0.send(Event::Action(action));
    }

    fn image_scan(&self, scan: ImageScan) {
        let _ = self.0.send(Event::Scan(scan));
    }
}
