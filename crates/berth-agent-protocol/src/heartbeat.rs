//! `BerthHeartbeat` (docs/agent-protocol.md §3) and the acknowledgment the
//! agent operations answer.

use serde::{Deserialize, Serialize};

/// The body of `BerthHeartbeat`, sent every 10 s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub container_instance: String,
}

/// `{"acknowledgment": "ACK"}`: the answer of `BerthHeartbeat`,
/// `SubmitTaskStateChange` and `SubmitContainerStateChange`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgment {
    pub acknowledgment: String,
}

impl Acknowledgment {
    pub fn ack() -> Self {
        Self {
            acknowledgment: "ACK".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn heartbeat_and_ack_use_the_documented_names() {
        let h = Heartbeat {
            cluster: Some("default".into()),
            container_instance: "arn:ci".into(),
        };
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            json!({"cluster": "default", "containerInstance": "arn:ci"})
        );
        assert_eq!(
            serde_json::to_value(Acknowledgment::ack()).unwrap(),
            json!({"acknowledgment": "ACK"})
        );
        // The cluster is optional, the instance is not.
        assert!(serde_json::from_value::<Heartbeat>(json!({"containerInstance": "i"})).is_ok());
        assert!(serde_json::from_value::<Heartbeat>(json!({"cluster": "c"})).is_err());
    }
}
