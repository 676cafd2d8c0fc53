//! Properties of the lifecycle evaluation over random repositories and
//! random valid policies (proptest): what ECR's evaluation rules promise,
//! checked against the answer rather than recomputed.

use super::{CountType, ImageFacts, Policy, Rule, TagSelection, evaluate};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

const NOW: f64 = 1_800_000_000.0;
const DAY: f64 = 86_400.0;
const TAGS: [&str; 6] = ["prod-1", "prod-2", "dev-1", "v1.0", "v1.0-rc", "latest"];

fn arb_image(i: usize) -> impl Strategy<Value = ImageFacts> {
    (
        prop::collection::btree_set(0..TAGS.len(), 0..3),
        0u32..40 * 24,
        prop::option::of(0u32..40 * 24),
        prop::bool::weighted(0.1),
    )
        .prop_map(move |(tags, pushed_hours, pulled_hours, protected)| ImageFacts {
            digest: format!("sha256:{i:04}"),
            tags: tags.into_iter().map(|t| TAGS[t].to_string()).collect(),
            pushed_at: NOW - f64::from(pushed_hours) * 3600.0,
            last_pulled_at: pulled_hours.map(|h| NOW - f64::from(h) * 3600.0),
            protected,
        })
}

fn arb_images() -> impl Strategy<Value = Vec<ImageFacts>> {
    (0usize..25).prop_flat_map(|n| (0..n).map(arb_image).collect::<Vec<_>>())
}

fn arb_selection() -> impl Strategy<Value = TagSelection> {
    prop_oneof![
        prop::sample::subsequence(vec!["prod", "dev", "v1", "lat"], 1..=2)
            .prop_map(|p| TagSelection::TaggedPrefixes(p.into_iter().map(String::from).collect())),
        prop::sample::subsequence(vec!["prod-*", "*-rc", "v*.*", "*"], 1..=2)
            .prop_map(|p| TagSelection::TaggedPatterns(p.into_iter().map(String::from).collect())),
        Just(TagSelection::Untagged),
    ]
}

fn arb_count() -> impl Strategy<Value = CountType> {
    prop_oneof![
        (1u32..6).prop_map(CountType::ImageCountMoreThan),
        (1u32..30).prop_map(CountType::SinceImagePushedDays),
        (1u32..30).prop_map(CountType::SinceImagePulledDays),
    ]
}

/// A valid policy: increasing priorities, at most one untagged rule, an
/// `any` rule only last.
fn arb_policy() -> impl Strategy<Value = Policy> {
    (
        prop::collection::vec((arb_selection(), arb_count(), 1u32..4), 1..5),
        prop::option::of(arb_count()),
    )
        .prop_map(|(rules, any)| {
            let mut priority = 0;
            let mut untagged = false;
            let mut out = vec![];
            for (selection, count, gap) in rules {
                if selection == TagSelection::Untagged {
                    if untagged {
                        continue;
                    }
                    untagged = true;
                }
                priority += gap;
                out.push(Rule {
                    priority,
                    selection,
                    count,
                });
            }
            if let Some(count) = any {
                out.push(Rule {
                    priority: priority + 1,
                    selection: TagSelection::Any,
                    count,
                });
            }
            Policy { rules: out }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn evaluation_keeps_ecrs_promises(images in arb_images(), policy in arb_policy()) {
        let expired = evaluate(&policy, &images, NOW);
        let by_digest: HashMap<&str, &ImageFacts> = images.iter().map(|i| (i.digest.as_str(), i)).collect();
        let mut seen = HashSet::new();
        for e in &expired {
            // Each image expires once, by a rule of the policy.
            prop_assert!(seen.insert(e.digest.as_str()), "{} twice", e.digest);
            let image = by_digest[e.digest.as_str()];
            let rule = policy.rules.iter().find(|r| r.priority == e.rule_priority).unwrap();
            // Never a protected image.
            prop_assert!(!image.protected);
            // The rule that expires it is the first whose selection matches it.
            let first = policy.rules.iter().find(|r| r.selection.selects(&image.tags)).unwrap();
            prop_assert_eq!(first.priority, rule.priority);
            // And its count says so.
            match rule.count {
                CountType::ImageCountMoreThan(n) => {
                    let newer = images
                        .iter()
                        .filter(|i| rule.selection.selects(&i.tags))
                        .filter(|i| i.pushed_at > image.pushed_at
                            || (i.pushed_at == image.pushed_at && i.digest < image.digest))
                        .count();
                    prop_assert!(newer >= n as usize, "{} has only {newer} newer", e.digest);
                }
                CountType::SinceImagePushedDays(d) => {
                    prop_assert!(image.pushed_at < NOW - f64::from(d) * DAY);
                }
                CountType::SinceImagePulledDays(d) => {
                    prop_assert!(image.last_pulled_at.unwrap_or(image.pushed_at) < NOW - f64::from(d) * DAY);
                }
            }
        }
        // Oldest push first.
        let pushed: Vec<f64> = expired.iter().map(|e| by_digest[e.digest.as_str()].pushed_at).collect();
        prop_assert!(pushed.windows(2).all(|w| w[0] <= w[1]));
        // Evaluating again without the expired images expires nothing more
        // by age, and never more than before by count.
        let rest: Vec<ImageFacts> = images.iter().filter(|i| !seen.contains(i.digest.as_str())).cloned().collect();
        for e in evaluate(&policy, &rest, NOW) {
            let rule = policy.rules.iter().find(|r| r.priority == e.rule_priority).unwrap();
            prop_assert!(matches!(rule.count, CountType::ImageCountMoreThan(_)),
                "{} expired by age only on the second run", e.digest);
        }
    }

    #[test]
    fn a_policy_text_round_trips_through_parse(policy in arb_policy()) {
        let rules: Vec<serde_json::Value> = policy.rules.iter().map(|r| {
            let mut sel = serde_json::Map::new();
            match &r.selection {
                TagSelection::TaggedPrefixes(p) => {
                    sel.insert("tagStatus".into(), "tagged".into());
                    sel.insert("tagPrefixList".into(), p.clone().into());
                }
                TagSelection::TaggedPatterns(p) => {
                    sel.insert("tagStatus".into(), "tagged".into());
                    sel.insert("tagPatternList".into(), p.clone().into());
                }
                TagSelection::Untagged => { sel.insert("tagStatus".into(), "untagged".into()); }
                TagSelection::Any => { sel.insert("tagStatus".into(), "any".into()); }
            }
            let (t, n, days) = match r.count {
                CountType::ImageCountMoreThan(n) => ("imageCountMoreThan", n, false),
                CountType::SinceImagePushedDays(n) => ("sinceImagePushed", n, true),
                CountType::SinceImagePulledDays(n) => ("sinceImagePulled", n, true),
            };
            sel.insert("countType".into(), t.into());
            sel.insert("countNumber".into(), n.into());
            if days {
                sel.insert("countUnit".into(), "days".into());
            }
            serde_json::json!({"rulePriority": r.priority, "selection": sel, "action": {"type": "expire"}})
        }).collect();
        let text = serde_json::json!({ "rules": rules }).to_string();
        prop_assert_eq!(Policy::parse(&text).unwrap(), policy);
    }
}
