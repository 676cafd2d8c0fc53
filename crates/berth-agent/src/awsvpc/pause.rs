//! The pause container that holds a task's network namespace: its image
//! (made on the host with `docker import`, no registry needed) and its
//! create body. Pure.
//!
//! The program is 129 bytes of static x86-64 code written out here: an ELF
//! header, one loadable segment and `loop { pause() }`. As PID 1 of its
//! namespace it ignores SIGTERM; the agent removes it with SIGKILL once the
//! task's containers have stopped.

use super::ipam::Lease;
use super::subnet::hostname_for;
use super::warm::{LABEL_WARM, WARM};
use crate::labels::{LABEL_CLUSTER, LABEL_CONTAINER_NAME, LABEL_INSTANCE, LABEL_NETWORK_OWNER, LABEL_TASK_ARN};
use crate::model::Task;
use bollard::models::{ContainerCreateBody, HostConfig};
use std::collections::{BTreeMap, HashMap};

/// The image the pause containers run (`docker import`ed by the agent).
pub const PAUSE_IMAGE: &str = "berth/pause:1";
/// The program's path in the image.
pub const PAUSE_PATH: &str = "/pause";
/// The container name label of a pause container (as ECS names its own).
pub const PAUSE_CONTAINER: &str = "~internal~ecs~pause";

/// The one architecture the pause program is written for.
pub const PAUSE_ARCH: &str = "x86_64";

const LOAD_ADDRESS: u64 = 0x40_0000;
const HEADER_LEN: usize = 64 + 56;
/// `mov eax, 34 (pause); syscall; jmp back to the mov`.
const CODE: [u8; 9] = [0xb8, 0x22, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7];

/// The pause program: an x86-64 ELF executable.
pub fn program() -> Vec<u8> {
    let total = (HEADER_LEN + CODE.len()) as u64;
    let mut b = Vec::with_capacity(total as usize);
    // ELF header.
    b.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    b.extend_from_slice(&0x3eu16.to_le_bytes()); // EM_X86_64
    b.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
    b.extend_from_slice(&(LOAD_ADDRESS + HEADER_LEN as u64).to_le_bytes()); // entry
    b.extend_from_slice(&64u64.to_le_bytes()); // program headers
    b.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    b.extend_from_slice(&0u32.to_le_bytes()); // flags
    b.extend_from_slice(&64u16.to_le_bytes()); // header size
    b.extend_from_slice(&56u16.to_le_bytes()); // program header size
    b.extend_from_slice(&1u16.to_le_bytes()); // one program header
    b.extend_from_slice(&[0; 6]); // no sections
    // PT_LOAD, read + execute, the whole file at LOAD_ADDRESS.
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&5u32.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&LOAD_ADDRESS.to_le_bytes());
    b.extend_from_slice(&LOAD_ADDRESS.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(&0x1000u64.to_le_bytes());
    b.extend_from_slice(&CODE);
    b
}

/// A tar archive with one executable file, as `docker import` reads it.
pub fn tar_with(path: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    let name = path.trim_start_matches('/').as_bytes();
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    let octal = |h: &mut [u8; 512], at: usize, width: usize, v: u64| {
        let s = format!("{v:0w$o}\0", w = width - 1);
        h[at..at + width].copy_from_slice(s.as_bytes());
    };
    octal(&mut h, 100, 8, 0o755);
    octal(&mut h, 108, 8, 0);
    octal(&mut h, 116, 8, 0);
    octal(&mut h, 124, 12, data.len() as u64);
    octal(&mut h, 136, 12, 0);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| b as u64).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0; 1024]);
    out
}

/// The Docker name of a task's pause container.
pub fn container_name(task: &Task) -> String {
    format!("berth-pause-{}", task.id())
}

/// Who the pause container belongs to: the labels every container of the
/// task carries.
pub struct Owner<'a> {
    pub cluster: &'a str,
    pub instance_arn: &'a str,
    pub extra_labels: &'a BTreeMap<String, String>,
}

/// The create body of the task's pause container: no Docker network
/// (network mode `none`: the agent gives its namespace the interface, see
/// [`super::plan::interface`]), host name `ip-a-b-c-d` (in its
/// `/etc/hosts` at the lease's address), labelled as the task's.
pub fn container_spec(task: &Task, lease: &Lease, owner: &Owner<'_>) -> ContainerCreateBody {
    let instance_arn = owner.instance_arn;
    let mut labels: HashMap<String, String> = owner.extra_labels.clone().into_iter().collect();
    labels.insert(LABEL_CLUSTER.into(), owner.cluster.into());
    labels.insert(LABEL_TASK_ARN.into(), task.task_arn.clone());
    labels.insert(LABEL_CONTAINER_NAME.into(), PAUSE_CONTAINER.into());
    labels.insert(LABEL_INSTANCE.into(), instance_arn.into());
    body(lease, labels)
}

/// The create body of a warm pause container ([`super::warm`]): as a
/// task's, its address leased ahead, labelled as the agent's (`network_owner`:
/// the agent's persistent id, which finds it again after a restart) and
/// as warm, with no task label: no listing of the task's containers (stats,
/// clean-up, the task's own events) counts it.
pub fn warm_spec(lease: &Lease, owner: &Owner<'_>, network_owner: &str) -> ContainerCreateBody {
    let mut labels: HashMap<String, String> = owner.extra_labels.clone().into_iter().collect();
    labels.insert(LABEL_CLUSTER.into(), owner.cluster.into());
    labels.insert(LABEL_INSTANCE.into(), owner.instance_arn.into());
    labels.insert(LABEL_WARM.into(), WARM.into());
    labels.insert(LABEL_NETWORK_OWNER.into(), network_owner.into());
    body(lease, labels)
}

fn body(lease: &Lease, labels: HashMap<String, String>) -> ContainerCreateBody {
    let hostname = hostname_for(lease.ip);
    ContainerCreateBody {
        image: Some(PAUSE_IMAGE.into()),
        cmd: Some(vec![PAUSE_PATH.into()]),
        hostname: Some(hostname.clone()),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            extra_hosts: Some(vec![format!("{hostname}:{}", lease.ip)]),
            ..Default::default()
        }),
        ..Default::default()
    }
}
