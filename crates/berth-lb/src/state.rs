//! A region's ELBv2 records as one value ([`State`]): read from the store
//! in one range, changed by the pure operations of `ops/`, written back as
//! the difference in one transaction that compares the serial key
//! ([`records::SERIAL_KEY`]) — every record an operation writes, or
//! nothing; a concurrent writer makes it run again on a fresh state.

use crate::errors::LbError;
use crate::records::{self, Listener, LoadBalancer, Rule, TargetGroup};
use berth_store::{Compare, Op, Store};
use std::collections::BTreeMap;

/// Every ELBv2 record of a region, by ARN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub lbs: BTreeMap<String, LoadBalancer>,
    pub tgs: BTreeMap<String, TargetGroup>,
    pub listeners: BTreeMap<String, Listener>,
    pub rules: BTreeMap<String, Rule>,
}

/// Now, in epoch milliseconds (registrations, draining deadlines).
pub fn now_ms() -> i64 {
    (berth_core::time::now_epoch() * 1000.0) as i64
}

/// How many times a write runs again after losing to another writer.
const MAX_ATTEMPTS: u32 = 32;

impl State {
    pub fn lb(&self, arn: &str) -> Result<&LoadBalancer, LbError> {
        self.lbs.get(arn).ok_or(LbError::LoadBalancerNotFound)
    }
    pub fn tg(&self, arn: &str) -> Result<&TargetGroup, LbError> {
        self.tgs.get(arn).ok_or(LbError::TargetGroupNotFound)
    }
    pub fn listener(&self, arn: &str) -> Result<&Listener, LbError> {
        self.listeners.get(arn).ok_or(LbError::ListenerNotFound)
    }
    pub fn rule(&self, arn: &str) -> Result<&Rule, LbError> {
        self.rules.get(arn).ok_or(LbError::RuleNotFound)
    }

    /// The listeners of a load balancer, by port.
    pub fn listeners_of(&self, lb_arn: &str) -> Vec<&Listener> {
        let mut out: Vec<&Listener> = self
            .listeners
            .values()
            .filter(|l| l.load_balancer_arn == lb_arn)
            .collect();
        out.sort_by_key(|l| l.port);
        out
    }

    /// The (non-default) rules of a listener, by priority.
    pub fn rules_of(&self, listener_arn: &str) -> Vec<&Rule> {
        let mut out: Vec<&Rule> = self.rules.values().filter(|r| r.listener_arn == listener_arn).collect();
        out.sort_by_key(|r| r.priority);
        out
    }

    /// The load balancers whose listeners or rules forward to a target group.
    pub fn lbs_of_tg(&self, tg_arn: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut note = |lb: &str| {
            if !out.iter().any(|x| x == lb) {
                out.push(lb.to_string());
            }
        };
        for l in self.listeners.values() {
            if l.default_actions.iter().any(|a| a.target_groups().contains(&tg_arn)) {
                note(&l.load_balancer_arn);
            }
        }
        for r in self.rules.values() {
            if r.actions.iter().any(|a| a.target_groups().contains(&tg_arn))
                && let Some(l) = self.listeners.get(&r.listener_arn)
            {
                note(&l.load_balancer_arn);
            }
        }
        out.sort();
        out
    }

    /// Undoes the change `before` → `after` on `self` (the records now):
    /// each record it changed is put back, unless another write has
    /// changed it since.
    pub fn undo(&mut self, before: &State, after: &State) {
        undo_map(&mut self.lbs, &before.lbs, &after.lbs);
        undo_map(&mut self.tgs, &before.tgs, &after.tgs);
        undo_map(&mut self.listeners, &before.listeners, &after.listeners);
        undo_map(&mut self.rules, &before.rules, &after.rules);
    }

    /// The store operations that turn `self` into `after`.
    pub fn diff(&self, after: &State) -> Vec<Op> {
        let mut ops = Vec::new();
        diff_map(&self.lbs, &after.lbs, |r| records::lb_key(&r.id), &mut ops);
        diff_map(&self.tgs, &after.tgs, |r| records::tg_key(&r.id), &mut ops);
        diff_map(
            &self.listeners,
            &after.listeners,
            |r| records::listener_key(&r.id),
            &mut ops,
        );
        diff_map(&self.rules, &after.rules, |r| records::rule_key(&r.id), &mut ops);
        ops
    }
}

fn undo_map<T: Clone + PartialEq>(
    now: &mut BTreeMap<String, T>,
    before: &BTreeMap<String, T>,
    after: &BTreeMap<String, T>,
) {
    let keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    for key in keys {
        let (b, a) = (before.get(key), after.get(key));
        if b == a || now.get(key) != a {
            continue;
        }
        match b {
            Some(b) => now.insert(key.clone(), b.clone()),
            None => now.remove(key),
        };
    }
}

fn diff_map<T: serde::Serialize + PartialEq>(
    before: &BTreeMap<String, T>,
    after: &BTreeMap<String, T>,
    key: impl Fn(&T) -> String,
    ops: &mut Vec<Op>,
) {
    for (arn, old) in before {
        if !after.contains_key(arn) {
            ops.push(Op::Delete(key(old)));
        }
    }
    for (arn, new) in after {
        if before.get(arn) != Some(new) {
            // A record always encodes (plain data).
            let value = serde_json::to_vec(new).unwrap_or_default();
            ops.push(Op::Put(key(new), value));
        }
    }
}

/// The state and the serial's revision it was read at.
pub async fn load(store: &dyn Store) -> Result<(State, i64, u64), LbError> {
    let kvs = store.range(records::PREFIX, None, None).await?;
    let mut state = State::default();
    let (mut serial_rev, mut serial) = (0, 0u64);
    for kv in &kvs {
        let rest = &kv.key[records::PREFIX.len()..];
        match rest.split_once('/').map(|(kind, _)| kind) {
            Some("loadbalancers") => {
                let r: LoadBalancer = berth_store::typed::decode(kv)?;
                state.lbs.insert(r.arn.clone(), r);
            }
            Some("targetgroups") => {
                let r: TargetGroup = berth_store::typed::decode(kv)?;
                state.tgs.insert(r.arn.clone(), r);
            }
            Some("listeners") => {
                let r: Listener = berth_store::typed::decode(kv)?;
                state.listeners.insert(r.arn.clone(), r);
            }
            Some("rules") => {
                let r: Rule = berth_store::typed::decode(kv)?;
                state.rules.insert(r.arn.clone(), r);
            }
            _ if kv.key == records::SERIAL_KEY => {
                serial_rev = kv.mod_revision;
                serial = std::str::from_utf8(&kv.value)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            }
            _ => {}
        }
    }
    Ok((state, serial_rev, serial))
}

/// Runs `change` on the current state and writes what it changed, all in
/// one transaction, or nothing when it fails.
pub async fn write<T>(
    store: &dyn Store,
    mut change: impl FnMut(&mut State) -> Result<T, LbError>,
) -> Result<T, LbError> {
    for _ in 0..MAX_ATTEMPTS {
        let (before, serial_rev, serial) = load(store).await?;
        let mut after = before.clone();
        let out = change(&mut after)?;
        let mut ops = before.diff(&after);
        if ops.is_empty() {
            return Ok(out);
        }
        ops.push(Op::Put(
            records::SERIAL_KEY.to_string(),
            (serial + 1).to_string().into_bytes(),
        ));
        let res = store
            .txn(
                vec![Compare::ModRevision(records::SERIAL_KEY.to_string(), serial_rev)],
                ops,
            )
            .await?;
        if res.succeeded {
            return Ok(out);
        }
        // Let the writer that won go on.
        tokio::task::yield_now().await;
    }
    Err(LbError::Store(format!(
        "gave up after {MAX_ATTEMPTS} conflicting ELBv2 writes"
    )))
}
