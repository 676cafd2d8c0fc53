//! The desired-state stream (docs/agent-protocol.md §2): NDJSON, one
//! [`SessionMessage`] a line.
//!
//! The envelope is generic over the task: the server sends each task as the
//! JSON `DescribeTasks` returns (plus `taskDefinition`), the agent reads it
//! into its own typed view. Unknown message types parse as
//! [`SessionMessage::Unknown`], so a newer server never breaks an older agent.

use serde::{Deserialize, Serialize};

/// One line of the session stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SessionMessage<T> {
    /// The complete desired state of the instance.
    Desired(DesiredState<T>),
    /// Sent every 5 s; carries the revision of the last desired state.
    Keepalive {
        #[serde(default)]
        revision: Option<i64>,
    },
    /// A message type this side does not know.
    #[serde(other)]
    Unknown,
}

/// Every member has a default, so a sparse message still reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredState<T> {
    #[serde(default)]
    pub revision: i64,
    #[serde(default)]
    pub container_instance_arn: String,
    #[serde(default = "Vec::new")]
    pub tasks: Vec<T>,
}

impl<T: Serialize> SessionMessage<T> {
    /// The message as one NDJSON line (with its newline).
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn messages_have_the_documented_shape() {
        let d = SessionMessage::Desired(DesiredState {
            revision: 7,
            container_instance_arn: "arn:ci".into(),
            tasks: vec![json!({"taskArn": "t"})],
        });
        let v: Value = serde_json::from_slice(&d.to_line()).unwrap();
        assert_eq!(
            v,
            json!({"type": "desired", "revision": 7, "containerInstanceArn": "arn:ci", "tasks": [{"taskArn": "t"}]})
        );
        let k = SessionMessage::<Value>::Keepalive { revision: Some(3) };
        assert_eq!(
            serde_json::to_value(&k).unwrap(),
            json!({"type": "keepalive", "revision": 3})
        );
        assert!(k.to_line().ends_with(b"\n"));
    }

    #[test]
    fn keepalive_and_unknown_messages_parse() {
        assert_eq!(
            serde_json::from_str::<SessionMessage<Value>>(r#"{"type":"keepalive","revision":3}"#).unwrap(),
            SessionMessage::Keepalive { revision: Some(3) }
        );
        assert_eq!(
            serde_json::from_str::<SessionMessage<Value>>(r#"{"type":"future-thing","x":1}"#).unwrap(),
            SessionMessage::Unknown
        );
    }
}
