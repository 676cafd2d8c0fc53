//! `ImageIdentifier`: an image named by its digest, its tag or both, as the
//! ECR operations take it and name it in their failures and messages.

use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct ImageId {
    pub(super) image_digest: Option<String>,
    pub(super) image_tag: Option<String>,
}

impl ImageId {
    pub(super) fn to_json(&self) -> Value {
        let mut v = json!({});
        if let Some(d) = &self.image_digest {
            v["imageDigest"] = json!(d);
        }
        if let Some(t) = &self.image_tag {
            v["imageTag"] = json!(t);
        }
        v
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "{{imageDigest:'{}', imageTag:'{}'}}",
            self.image_digest.as_deref().unwrap_or("null"),
            self.image_tag.as_deref().unwrap_or("null")
        )
    }
}
