//! The ENI attachment of an awsvpc task (`attachments[type
//! ElasticNetworkInterface]`) and the containers' `networkInterfaces`, as
//! ECS shapes them. Pure.
//!
//! The server creates the attachment when it places the task (PRECREATED,
//! with the subnet of its `awsvpcConfiguration`); the agent reports the
//! interface it set up (id, MAC, address: ATTACHED); the attachment is
//! DELETED when the task stops (the agent has removed the namespace).

use berth_agent_protocol::TaskNetworkInterface;
use serde::{Deserialize, Serialize};

/// `Attachment.type` of a task's network interface.
pub const ENI_ATTACHMENT: &str = "ElasticNetworkInterface";

/// An attachment's status (the ones a Berth task's ENI goes through).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttachmentStatus {
    Precreated,
    Attached,
    Deleted,
}

/// One `details` entry (`KeyValuePair`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentDetail {
    pub name: String,
    pub value: String,
}

/// `Attachment` as DescribeTasks shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: AttachmentStatus,
    #[serde(default)]
    pub details: Vec<AttachmentDetail>,
}

/// A container's `networkInterfaces` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    pub attachment_id: String,
    pub private_ipv4_address: String,
}

impl Attachment {
    /// The ENI attachment of a task just placed in `subnet_id`.
    pub fn precreated_eni(id: String, subnet_id: Option<&str>) -> Self {
        Self {
            id,
            kind: ENI_ATTACHMENT.to_string(),
            status: AttachmentStatus::Precreated,
            details: subnet_id
                .map(|s| AttachmentDetail {
                    name: "subnetId".into(),
                    value: s.to_string(),
                })
                .into_iter()
                .collect(),
        }
    }

    pub fn is_eni(&self) -> bool {
        self.kind == ENI_ATTACHMENT
    }

    pub fn detail(&self, name: &str) -> Option<&str> {
        self.details.iter().find(|d| d.name == name).map(|d| d.value.as_str())
    }

    fn set_detail(&mut self, name: &str, value: String) {
        match self.details.iter_mut().find(|d| d.name == name) {
            Some(d) => d.value = value,
            None => self.details.push(AttachmentDetail {
                name: name.to_string(),
                value,
            }),
        }
    }

    /// Fills the interface the agent reported (in ECS's detail order) and
    /// marks it ATTACHED. True when anything changed.
    pub fn attach(&mut self, ni: &TaskNetworkInterface, region: &str) -> bool {
        let before = self.clone();
        let ip = ni.private_ipv4_address.clone();
        self.set_detail("networkInterfaceId", ni.network_interface_id.clone());
        self.set_detail("macAddress", ni.mac_address.clone());
        self.set_detail("privateDnsName", private_dns_name(&ip, region));
        self.set_detail("privateIPv4Address", ip);
        self.status = AttachmentStatus::Attached;
        *self != before
    }
}

/// EC2's private DNS name of an address: `ip-10-0-0-2.REGION.compute.internal`
/// (`ip-10-0-0-2.ec2.internal` in us-east-1).
pub fn private_dns_name(ip: &str, region: &str) -> String {
    let host = format!("ip-{}", ip.replace('.', "-"));
    if region == "us-east-1" {
        format!("{host}.ec2.internal")
    } else {
        format!("{host}.{region}.compute.internal")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reported() -> TaskNetworkInterface {
        TaskNetworkInterface {
            network_interface_id: "eni-0123456789abcdef0".into(),
            private_ipv4_address: "10.213.0.2".into(),
            mac_address: "0a:58:0a:d5:00:02".into(),
        }
    }

    #[test]
    fn an_eni_attachment_goes_precreated_attached_as_ecs_shapes_it() {
        let mut a = Attachment::precreated_eni("a1".into(), Some("subnet-12345678"));
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            json!({"id": "a1", "type": "ElasticNetworkInterface", "status": "PRECREATED",
                   "details": [{"name": "subnetId", "value": "subnet-12345678"}]})
        );
        assert!(a.attach(&reported(), "eu-west-1"));
        assert!(!a.attach(&reported(), "eu-west-1"), "the same report changes nothing");
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            json!({"id": "a1", "type": "ElasticNetworkInterface", "status": "ATTACHED", "details": [
                {"name": "subnetId", "value": "subnet-12345678"},
                {"name": "networkInterfaceId", "value": "eni-0123456789abcdef0"},
                {"name": "macAddress", "value": "0a:58:0a:d5:00:02"},
                {"name": "privateDnsName", "value": "ip-10-213-0-2.eu-west-1.compute.internal"},
                {"name": "privateIPv4Address", "value": "10.213.0.2"},
            ]})
        );
        assert_eq!(a.detail("privateIPv4Address"), Some("10.213.0.2"));
    }

    #[test]
    fn private_dns_names_follow_ec2() {
        assert_eq!(private_dns_name("10.0.0.7", "us-east-1"), "ip-10-0-0-7.ec2.internal");
        assert_eq!(
            private_dns_name("10.0.0.7", "ap-south-1"),
            "ip-10-0-0-7.ap-south-1.compute.internal"
        );
    }
}
