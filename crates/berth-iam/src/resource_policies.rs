//! Resource policies (ECR repository policies, …) kept in memory for
//! authorization, and kept current by a store watch on the records that
//! carry them.

use crate::policy::{PolicyDocument, PolicyKind};
use berth_store::{EventKind, Store};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Turns a store record into `(resource ARN, policy text if any)`.
pub type Extract = dyn Fn(&str, &[u8]) -> Option<(String, Option<String>)> + Send + Sync;
/// The resource ARN of a deleted record's key.
pub type KeyToArn = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Parsed resource policies by resource ARN.
#[derive(Default)]
pub struct ResourcePolicies {
    by_arn: RwLock<HashMap<String, Arc<PolicyDocument>>>,
}

impl ResourcePolicies {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, arn: &str) -> Option<Arc<PolicyDocument>> {
        match self.by_arn.read() {
            Ok(m) => m.get(arn).cloned(),
            Err(p) => p.into_inner().get(arn).cloned(),
        }
    }

    /// Sets (or, with `None`, removes) the policy of `arn`.
    pub fn set(&self, arn: &str, text: Option<&str>) {
        let doc = text.and_then(|t| match PolicyDocument::parse(t, PolicyKind::Resource) {
            Ok(d) => Some(Arc::new(d)),
            Err(e) => {
                tracing::warn!(resource = arn, error = %e, "ignoring a resource policy Berth cannot evaluate");
                None
            }
        });
        let mut m = match self.by_arn.write() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        match doc {
            Some(d) => m.insert(arn.to_string(), d),
            None => m.remove(arn),
        };
    }

    /// Loads every record under `prefix`, then follows its changes until
    /// the store closes (re-listing if the watch falls behind).
    pub fn spawn_watch(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        prefix: &'static str,
        extract: Arc<Extract>,
        key_to_arn: Arc<KeyToArn>,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                match this.follow(store.as_ref(), prefix, &*extract, &*key_to_arn).await {
                    Ok(()) => return,
                    Err(berth_store::StoreError::Closed) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, prefix, "resource policy watch restarting");
                        // Back off so a failing store is not hammered.
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        })
    }

    async fn follow(
        &self,
        store: &dyn Store,
        prefix: &str,
        extract: &Extract,
        key_to_arn: &KeyToArn,
    ) -> berth_store::Result<()> {
        let rev = store.current_revision().await?;
        let mut watch = store.watch(prefix, rev + 1).await?;
        for kv in store.range(prefix, None, None).await? {
            if let Some((arn, text)) = extract(&kv.key, &kv.value) {
                self.set(&arn, text.as_deref());
            }
        }
        while let Some(event) = watch.next().await {
            let event = event?;
            match event.kind {
                EventKind::Put => {
                    if let Some((arn, text)) = extract(&event.key, &event.value) {
                        self.set(&arn, text.as_deref());
                    }
                }
                EventKind::Delete => {
                    if let Some(arn) = key_to_arn(&event.key) {
                        self.set(&arn, None);
                    }
                }
            }
        }
        Ok(())
    }
}
