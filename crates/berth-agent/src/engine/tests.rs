//! Tests of [`super`] (engine.rs).

use super::{report::*, state::*};
use crate::model::NetworkBinding;

#[test]
fn unknown_fields_are_not_changes() {
    let before = Reported {
        status: "RUNNING".into(),
        exit_code: None,
        runtime_id: Some("abc".into()),
        bindings: vec![],
        reason: Some("x".into()),
        health: None,
    };
    let mut now = before.clone();
    now.reason = None;
    now.runtime_id = None;
    assert!(!differs(&before, &now));
    now.status = "STOPPED".into();
    assert!(differs(&before, &now));
    let mut now = before.clone();
    now.health = Some("HEALTHY".into());
    assert!(differs(&before, &now));
    let mut now = before.clone();
    now.bindings = vec![NetworkBinding::new("0.0.0.0", 80, 32768, "tcp")];
    assert!(differs(&before, &now));
}
