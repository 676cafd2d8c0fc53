//! The host's task subnet (`--task-subnet`, an IPv4 CIDR from /16 to /28)
//! and the names derived from it. Pure.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// The task subnet when `--task-subnet` is not given.
pub const DEFAULT_TASK_SUBNET: &str = "10.213.0.0/24";

/// An IPv4 subnet whose first address is the host's (the bridge's gateway)
/// and whose other usable addresses go to tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaskSubnet {
    network: Ipv4Addr,
    prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubnetError {
    #[error("'{0}' is not an IPv4 CIDR block such as 10.213.0.0/24")]
    Form(String),
    #[error("the task subnet '{0}' must have a prefix length from /16 to /28")]
    Prefix(String),
    #[error("'{given}' has host bits set: the subnet is {network}")]
    HostBits { given: String, network: String },
}

impl FromStr for TaskSubnet {
    type Err = SubnetError;

    fn from_str(s: &str) -> Result<Self, SubnetError> {
        let (addr, len) = s.split_once('/').ok_or_else(|| SubnetError::Form(s.to_string()))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| SubnetError::Form(s.to_string()))?;
        let prefix: u8 = len.parse().map_err(|_| SubnetError::Form(s.to_string()))?;
        if !(16..=28).contains(&prefix) {
            return Err(SubnetError::Prefix(s.to_string()));
        }
        let mask = u32::MAX << (32 - prefix);
        let network = Ipv4Addr::from(u32::from(addr) & mask);
        if network != addr {
            return Err(SubnetError::HostBits {
                given: s.to_string(),
                network: format!("{network}/{prefix}"),
            });
        }
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for TaskSubnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl TaskSubnet {
    fn first(&self) -> u32 {
        u32::from(self.network)
    }

    fn broadcast(&self) -> u32 {
        self.first() | (u32::MAX >> self.prefix)
    }

    /// The host's address on the bridge (the tasks' gateway): the first one.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first() + 1)
    }

    /// The addresses tasks may get: all but the network, the gateway and
    /// the broadcast address, lowest first.
    pub fn task_addresses(&self) -> impl Iterator<Item = Ipv4Addr> {
        (self.first() + 2..self.broadcast()).map(Ipv4Addr::from)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (self.first()..=self.broadcast()).contains(&u32::from(ip))
    }

    /// The prefix length (`24` of `10.213.0.0/24`).
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether the two subnets share an address.
    pub fn overlaps(&self, other: &TaskSubnet) -> bool {
        self.first() <= other.broadcast() && other.first() <= self.broadcast()
    }

    /// The Docker network of this subnet: `berth-vpc-10-213-0-0-24`.
    pub fn network_name(&self) -> String {
        format!("berth-vpc-{}", self.to_string().replace(['.', '/'], "-"))
    }

    /// The Linux bridge (at most 15 characters): `berth` and the network
    /// address in hex, e.g. `berth0ad50000`.
    pub fn bridge_name(&self) -> String {
        format!("berth{:08x}", self.first())
    }
}

/// The interface's MAC: locally administered, from its address
/// (`0a:58:` and the four bytes, as the CNI bridge plugin does), so a
/// restarted agent gives the same one.
pub fn mac_for(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("0a:58:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// The task's host name, as EC2 names hosts: `ip-10-213-0-2`.
pub fn hostname_for(ip: Ipv4Addr) -> String {
    format!("ip-{}", ip.to_string().replace('.', "-"))
}
