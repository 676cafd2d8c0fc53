//! The warm pool's decisions and the warm leases (pure).

use super::ipam::{Lease, Leases};
use super::pause;
use super::subnet::TaskSubnet;
use super::warm::{self, Adoption, Found, Pool, Warm};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

fn subnet(s: &str) -> TaskSubnet {
    s.parse().unwrap()
}

fn lease(last: u8) -> Lease {
    let ip = Ipv4Addr::new(10, 9, 0, last);
    Lease {
        ip,
        mac: super::subnet::mac_for(ip),
        eni_id: format!("eni-{last:017x}"),
    }
}

fn warm(n: u8) -> Warm {
    Warm {
        name: warm::warm_name(&format!("{n:012x}")),
        id: format!("id{n}"),
        pid: 100 + u32::from(n),
        lease: lease(n),
    }
}

#[test]
fn the_pool_fills_only_once_the_agent_runs_awsvpc_tasks_and_never_above_its_size() {
    let mut p = Pool::new(1);
    assert_eq!(
        p.begin_fill(),
        0,
        "inactive: an agent without awsvpc tasks holds nothing"
    );
    assert_eq!(p.claim(), None);
    p.activate();
    assert_eq!(p.begin_fill(), 1);
    // One being made: a second refill makes no more.
    assert_eq!(p.begin_fill(), 0);
    assert_eq!(p.end_fill(Some(warm(2))), None);
    assert_eq!(p.ready(), 1);
    assert_eq!(p.begin_fill(), 0, "full");
    // A task claims it: the next refill makes one more.
    assert_eq!(p.claim(), Some(warm(2)));
    assert_eq!(p.claim(), None, "empty: the task takes the cold path");
    assert_eq!(p.begin_fill(), 1);
    // A failed make leaves room for the next refill.
    assert_eq!(p.end_fill(None), None);
    assert_eq!(p.begin_fill(), 1);
}

#[test]
fn a_pool_of_size_zero_stays_empty_and_a_larger_one_claims_oldest_first() {
    let mut p = Pool::new(0);
    p.activate();
    assert_eq!(p.begin_fill(), 0);
    let mut p = Pool::new(2);
    p.activate();
    assert_eq!(p.begin_fill(), 2);
    assert_eq!(p.end_fill(Some(warm(2))), None);
    assert_eq!(p.end_fill(Some(warm(3))), None);
    assert_eq!(p.claim(), Some(warm(2)));
    assert_eq!(p.claim(), Some(warm(3)));
}

#[test]
fn a_closing_pool_gives_back_its_warm_containers_and_refuses_new_ones() {
    let mut p = Pool::new(1);
    p.activate();
    assert_eq!(p.begin_fill(), 1);
    assert_eq!(p.end_fill(Some(warm(2))), None);
    assert_eq!(p.close(), vec![warm(2)]);
    assert_eq!(p.claim(), None);
    assert_eq!(p.begin_fill(), 0);
    // One still being made when the agent stopped: removed when done.
    assert_eq!(p.end_fill(Some(warm(3))), Some(warm(3)));
}

#[test]
fn a_starting_agent_reuses_running_warm_containers_and_removes_the_rest() {
    let leases = BTreeMap::from([
        (warm(2).name, lease(2)),
        (warm(3).name, lease(3)),
        (warm(4).name, lease(4)),
    ]);
    let found = vec![
        // Running with its lease: reused.
        Found {
            name: format!("/{}", warm(2).name),
            id: "id2".into(),
            pid: Some(102),
        },
        // Stopped (a reboot): removed, its lease freed.
        Found {
            name: format!("/{}", warm(3).name),
            id: "id3".into(),
            pid: None,
        },
        // Running without a lease (it cannot be: a lease is kept first; removed).
        Found {
            name: format!("/{}", warm(5).name),
            id: "id5".into(),
            pid: Some(105),
        },
        // Claimed by a task (renamed): the task's, left alone.
        Found {
            name: "/berth-pause-abc123".into(),
            id: "idt".into(),
            pid: Some(200),
        },
    ];
    // warm(4)'s lease has no container (the agent died between the lease and the create).
    assert_eq!(
        warm::adopt(&found, &leases, 1),
        Adoption {
            keep: vec![warm(2)],
            remove: vec!["id3".into(), "id5".into()],
            release: vec![warm(3).name, warm(4).name],
        }
    );
    // A pool of size 0 now: everything goes.
    let a = warm::adopt(&found, &leases, 0);
    assert!(a.keep.is_empty());
    assert_eq!(a.remove, vec!["id2".to_string(), "id3".into(), "id5".into()]);
    assert_eq!(a.release.len(), 3);
    assert!(warm::is_warm_name("/berth-pause-warm-0a"));
    assert!(!warm::is_warm_name("/berth-pause-abc123"));
}

#[test]
fn a_warm_lease_takes_an_address_and_passes_to_the_task_that_claims_it() {
    let s = subnet("10.9.0.0/28");
    let mut l = Leases::new(&s);
    let w = l.acquire_warm(&s, "berth-pause-warm-1", "1").unwrap();
    assert_eq!(w.ip, Ipv4Addr::new(10, 9, 0, 2));
    assert_eq!(l.acquire_warm(&s, "berth-pause-warm-1", "9").unwrap(), w, "idempotent");
    // A task on the cold path does not get the warm container's address.
    assert_eq!(l.acquire(&s, "arn:a", "2").unwrap().ip, Ipv4Addr::new(10, 9, 0, 3));
    // Claimed: the task holds it, the pool no more.
    assert_eq!(l.claim_warm("berth-pause-warm-1", "arn:b"), Some(w.clone()));
    assert_eq!(l.tasks["arn:b"], w);
    assert!(l.warm.is_empty());
    assert_eq!(l.claim_warm("berth-pause-warm-1", "arn:c"), None, "claimed once");
    // A task holding an address already claims nothing.
    let w2 = l.acquire_warm(&s, "berth-pause-warm-2", "3").unwrap();
    assert_eq!(w2.ip, Ipv4Addr::new(10, 9, 0, 4));
    assert_eq!(l.claim_warm("berth-pause-warm-2", "arn:a"), None);
    assert!(l.release_warm("berth-pause-warm-2"));
    assert!(!l.release_warm("berth-pause-warm-2"));
    // Kept in the lease file beside the tasks; a file without warm leases reads back.
    l.acquire_warm(&s, "berth-pause-warm-3", "4").unwrap();
    let back: Leases = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
    assert_eq!(back.for_subnet(&s), l);
    let old: Leases = serde_json::from_str(r#"{"subnet":"10.9.0.0/28","tasks":{}}"#).unwrap();
    assert!(old.warm.is_empty());
    let plain = serde_json::to_value(Leases::new(&s)).unwrap();
    assert!(plain.get("warm").is_none(), "no warm key when there is none");
}

#[test]
fn a_warm_container_is_labelled_as_the_agents_and_warm_with_no_task_label() {
    let extra = BTreeMap::from([("berth.test".to_string(), "1".to_string())]);
    let owner = pause::Owner {
        cluster: "c1",
        instance_arn: "arn:instance",
        extra_labels: &extra,
    };
    let body = pause::warm_spec(&lease(7), &owner, "i-0123");
    assert_eq!(body.image.as_deref(), Some(pause::PAUSE_IMAGE));
    assert_eq!(body.hostname.as_deref(), Some("ip-10-9-0-7"));
    let labels = body.labels.unwrap();
    assert_eq!(labels[warm::LABEL_WARM], warm::WARM);
    assert_eq!(labels[crate::labels::LABEL_CLUSTER], "c1");
    assert_eq!(labels[crate::labels::LABEL_INSTANCE], "arn:instance");
    assert_eq!(labels[super::host_net::LABEL_NETWORK_OWNER], "i-0123");
    assert_eq!(labels["berth.test"], "1");
    assert!(!labels.contains_key(crate::labels::LABEL_TASK_ARN));
    assert!(!labels.contains_key(crate::labels::LABEL_CONTAINER_NAME));
    let host = body.host_config.unwrap();
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert_eq!(host.extra_hosts, Some(vec!["ip-10-9-0-7:10.9.0.7".to_string()]));
}
