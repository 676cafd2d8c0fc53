//! Tests of [`super`] (the pure parts of awsvpc).

use super::ipam::Leases;
use super::pause::{self, PAUSE_CONTAINER, PAUSE_IMAGE};
use super::subnet::{SubnetError, TaskSubnet, hostname_for, mac_for};
use crate::labels::{LABEL_CONTAINER_NAME, LABEL_TASK_ARN};
use crate::model::Task;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

fn subnet(s: &str) -> TaskSubnet {
    s.parse().unwrap()
}

#[test]
fn a_task_subnet_is_an_ipv4_cidr_from_16_to_28_without_host_bits() {
    let s = subnet("10.213.0.0/24");
    assert_eq!(s.to_string(), "10.213.0.0/24");
    assert_eq!(s.gateway(), Ipv4Addr::new(10, 213, 0, 1));
    let first: Vec<_> = s.task_addresses().take(2).collect();
    assert_eq!(first, [Ipv4Addr::new(10, 213, 0, 2), Ipv4Addr::new(10, 213, 0, 3)]);
    assert_eq!(s.task_addresses().last(), Some(Ipv4Addr::new(10, 213, 0, 254)));
    assert_eq!(s.task_addresses().count(), 253);
    assert!(s.contains(Ipv4Addr::new(10, 213, 0, 77)));
    assert!(!s.contains(Ipv4Addr::new(10, 213, 1, 2)));
    assert_eq!(s.network_name(), "berth-vpc-10-213-0-0-24");
    assert_eq!(s.bridge_name(), "berth0ad50000");
    assert!(s.bridge_name().len() <= 15);

    assert!(matches!("10.0.0.0".parse::<TaskSubnet>(), Err(SubnetError::Form(_))));
    assert!(matches!("10.0.0.0/x".parse::<TaskSubnet>(), Err(SubnetError::Form(_))));
    assert!(matches!(
        "300.0.0.0/24".parse::<TaskSubnet>(),
        Err(SubnetError::Form(_))
    ));
    assert!(matches!(
        "10.0.0.0/8".parse::<TaskSubnet>(),
        Err(SubnetError::Prefix(_))
    ));
    assert!(matches!(
        "10.0.0.0/30".parse::<TaskSubnet>(),
        Err(SubnetError::Prefix(_))
    ));
    let e = "10.0.0.5/24".parse::<TaskSubnet>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "'10.0.0.5/24' has host bits set: the subnet is 10.0.0.0/24"
    );
}

#[test]
fn mac_and_host_name_come_from_the_address() {
    let ip = Ipv4Addr::new(10, 213, 0, 2);
    assert_eq!(mac_for(ip), "0a:58:0a:d5:00:02");
    assert_eq!(hostname_for(ip), "ip-10-213-0-2");
}

#[test]
fn leases_are_lowest_free_first_idempotent_and_released() {
    let s = subnet("10.9.0.0/28");
    let mut l = Leases::new(&s);
    let a = l.acquire(&s, "arn:a", "0123456789abcdef0").unwrap();
    assert_eq!(a.ip, Ipv4Addr::new(10, 9, 0, 2));
    assert_eq!(a.eni_id, "eni-0123456789abcdef0");
    assert_eq!(a.mac, mac_for(a.ip));
    // The same task gets the same lease (a restarted agent).
    assert_eq!(l.acquire(&s, "arn:a", "fffffffffffffffff").unwrap(), a);
    let b = l.acquire(&s, "arn:b", "1").unwrap();
    assert_eq!(b.ip, Ipv4Addr::new(10, 9, 0, 3));
    assert!(l.release("arn:a"));
    assert!(!l.release("arn:a"));
    // The freed address is the next one given.
    assert_eq!(l.acquire(&s, "arn:c", "2").unwrap().ip, Ipv4Addr::new(10, 9, 0, 2));
    // A /28 has 13 task addresses (16 less network, gateway, broadcast).
    for i in 0..11 {
        l.acquire(&s, &format!("arn:x{i}"), "3").unwrap();
    }
    let e = l.acquire(&s, "arn:full", "4").unwrap_err();
    assert!(
        e.to_string()
            .contains("no free address left in the task subnet 10.9.0.0/28")
    );
    assert_eq!(
        l.stale(|t| t.starts_with("arn:x")),
        vec!["arn:b".to_string(), "arn:c".to_string()]
    );
}

#[test]
fn leases_read_back_for_another_subnet_are_dropped() {
    let s = subnet("10.9.0.0/24");
    let mut l = Leases::new(&s);
    l.acquire(&s, "arn:a", "0").unwrap();
    let json = serde_json::to_string(&l).unwrap();
    let back: Leases = serde_json::from_str(&json).unwrap();
    assert_eq!(back.clone().for_subnet(&s), l);
    assert!(back.for_subnet(&subnet("10.10.0.0/24")).tasks.is_empty());
}

#[test]
fn the_pause_program_is_a_static_x86_64_elf_that_loops_on_pause() {
    let p = pause::program();
    assert_eq!(p.len(), 129);
    assert_eq!(&p[..4], b"\x7fELF");
    assert_eq!(p[4], 2, "64-bit");
    assert_eq!(u16::from_le_bytes([p[18], p[19]]), 0x3e, "x86-64");
    let entry = u64::from_le_bytes(p[24..32].try_into().unwrap());
    assert_eq!(entry, 0x40_0000 + 120);
    // p_filesz covers the file.
    assert_eq!(u64::from_le_bytes(p[64 + 32..64 + 40].try_into().unwrap()), 129);
    // mov eax, 34 (pause); syscall; jmp -9.
    assert_eq!(&p[120..], &[0xb8, 34, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7]);
}

#[test]
fn the_pause_tar_holds_one_executable_with_a_valid_header() {
    let data = pause::program();
    let t = pause::tar_with("/pause", &data);
    assert_eq!(t.len(), 512 + 512 + 1024);
    assert_eq!(&t[..6], b"pause\0");
    assert_eq!(&t[100..108], b"0000755\0");
    assert_eq!(&t[124..136], b"00000000201\0");
    assert_eq!(t[156], b'0');
    assert_eq!(&t[257..262], b"ustar");
    let stored = std::str::from_utf8(&t[148..154]).unwrap();
    let mut h = t[..512].to_vec();
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| b as u64).sum();
    assert_eq!(u64::from_str_radix(stored, 8).unwrap(), sum);
    assert_eq!(&t[512..512 + data.len()], &data[..]);
    assert!(t[1024..].iter().all(|&b| b == 0));
}

#[test]
fn the_pause_container_has_no_docker_network_and_names_its_host_at_the_lease() {
    let s = subnet("10.9.0.0/24");
    let mut l = Leases::new(&s);
    let task = Task {
        task_arn: "arn:aws:ecs:us-east-1:000000000000:task/c/abc123".into(),
        ..Task::default()
    };
    let lease = l.acquire(&s, &task.task_arn, "0").unwrap();
    assert_eq!(pause::container_name(&task), "berth-pause-abc123");
    let extra = BTreeMap::from([("berth.test".to_string(), "1".to_string())]);
    let owner = pause::Owner {
        cluster: "c1",
        instance_arn: "arn:instance",
        extra_labels: &extra,
    };
    let body = pause::container_spec(&task, &lease, &owner);
    assert_eq!(body.image.as_deref(), Some(PAUSE_IMAGE));
    assert_eq!(body.hostname.as_deref(), Some("ip-10-9-0-2"));
    let labels = body.labels.unwrap();
    assert_eq!(labels[LABEL_TASK_ARN], task.task_arn);
    assert_eq!(labels[LABEL_CONTAINER_NAME], PAUSE_CONTAINER);
    assert_eq!(labels["berth.test"], "1");
    assert_eq!(labels[crate::labels::LABEL_CLUSTER], "c1");
    let host = body.host_config.unwrap();
    // No Docker network: the agent gives the namespace its interface.
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert_eq!(host.extra_hosts, Some(vec!["ip-10-9-0-2:10.9.0.2".to_string()]));
    assert!(body.networking_config.is_none());
}
