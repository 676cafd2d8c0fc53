//! The evaluation of a lifecycle policy over a repository's images, as the
//! ECR user guide's "How lifecycle policies work" describes it:
//!
//! * rules are applied in `rulePriority` order, lowest first;
//! * an image that matches the tag selection of a rule is never expired by
//!   a later rule (it is *claimed* by the first rule selecting it, whether
//!   or not that rule expires it) — later rules still *count* it
//!   (`imageCountMoreThan` counts every image its selection matches);
//! * tagged images no rule selects stay;
//! * `imageCountMoreThan N` keeps the newest N by push time; the
//!   `since…` counts expire images older than N days (pulls: the last
//!   recorded pull, or the push when never pulled);
//! * an image a manifest list in the repository references is never
//!   expired (ECR: the list must go first), nor is a referrer artifact
//!   (signatures, SBOMs) on its own: it goes with its subject.

use super::policy::{CountType, Policy};
use std::collections::HashSet;

const DAY_SECS: f64 = 86_400.0;

/// What the evaluation knows of an image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFacts {
    pub digest: String,
    pub tags: Vec<String>,
    /// Epoch seconds.
    pub pushed_at: f64,
    pub last_pulled_at: Option<f64>,
    /// Never expired by a rule: referenced by a manifest list, or a
    /// referrer (it has a subject).
    pub protected: bool,
}

/// An image the policy expires, and the rule that did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    pub digest: String,
    pub rule_priority: u32,
}

/// Newest first; equal push times by digest, so the answer is stable.
fn newest_first(a: &ImageFacts, b: &ImageFacts) -> std::cmp::Ordering {
    b.pushed_at
        .total_cmp(&a.pushed_at)
        .then_with(|| a.digest.cmp(&b.digest))
}

/// The images `policy` expires at `now` (epoch seconds), oldest push first.
pub fn evaluate(policy: &Policy, images: &[ImageFacts], now: f64) -> Vec<Expiry> {
    let mut claimed: HashSet<&str> = HashSet::new();
    let mut out: Vec<(f64, Expiry)> = vec![];
    for rule in &policy.rules {
        let mut selected: Vec<&ImageFacts> = images.iter().filter(|i| rule.selection.selects(&i.tags)).collect();
        selected.sort_by(|a, b| newest_first(a, b));
        let expired: Vec<&ImageFacts> = match rule.count {
            CountType::ImageCountMoreThan(n) => selected.iter().skip(n as usize).copied().collect(),
            CountType::SinceImagePushedDays(d) => {
                let cutoff = now - f64::from(d) * DAY_SECS;
                selected.iter().filter(|i| i.pushed_at < cutoff).copied().collect()
            }
            CountType::SinceImagePulledDays(d) => {
                let cutoff = now - f64::from(d) * DAY_SECS;
                selected
                    .iter()
                    .filter(|i| i.last_pulled_at.unwrap_or(i.pushed_at) < cutoff)
                    .copied()
                    .collect()
            }
        };
        for i in expired {
            if !i.protected && !claimed.contains(i.digest.as_str()) {
                out.push((
                    i.pushed_at,
                    Expiry {
                        digest: i.digest.clone(),
                        rule_priority: rule.priority,
                    },
                ));
            }
        }
        claimed.extend(selected.iter().map(|i| i.digest.as_str()));
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.digest.cmp(&b.1.digest)));
    out.into_iter().map(|(_, e)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(digest: &str, tags: &[&str], pushed_days_ago: f64) -> ImageFacts {
        ImageFacts {
            digest: digest.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pushed_at: NOW - pushed_days_ago * DAY_SECS,
            last_pulled_at: None,
            protected: false,
        }
    }

    const NOW: f64 = 1_800_000_000.0;

    fn parse(rules: &str) -> Policy {
        Policy::parse(&format!("{{\"rules\":[{rules}]}}")).unwrap()
    }

    const KEEP_3_PROD: &str = r#"{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}}"#;
    const UNTAGGED_1D: &str = r#"{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}"#;

    fn digests(e: &[Expiry]) -> Vec<(&str, u32)> {
        e.iter().map(|e| (e.digest.as_str(), e.rule_priority)).collect()
    }

    #[test]
    fn keep_the_newest_three_prod_and_expire_old_untagged() {
        let mut images: Vec<ImageFacts> = (1..=10)
            .map(|i| img(&format!("p{i:02}"), &[&format!("prod-{i}")], 20.0 - i as f64))
            .collect();
        images.push(img("u1", &[], 3.0));
        images.push(img("u2", &[], 2.0));
        images.push(img("u3", &[], 0.5));
        images.push(img("dev", &["dev-1"], 30.0));
        let p = parse(&format!("{KEEP_3_PROD},{UNTAGGED_1D}"));
        let got = evaluate(&p, &images, NOW);
        let mut want: Vec<(String, u32)> = (1..=7).map(|i| (format!("p{i:02}"), 1)).collect();
        // Oldest push first: u1 (3 days) after p01..p07 (19..13 days).
        want.push(("u1".into(), 2));
        want.push(("u2".into(), 2));
        let want: Vec<(&str, u32)> = want.iter().map(|(d, p)| (d.as_str(), *p)).collect();
        assert_eq!(digests(&got), want);
    }

    #[test]
    fn an_image_claimed_by_an_earlier_rule_is_not_expired_by_a_later_one() {
        // Rule 1 selects prod* and keeps 5 (expires nothing); rule 2 (any,
        // keep 1) counts them but may only expire what rule 1 did not select.
        let images = vec![
            img("a", &["prod-a"], 5.0),
            img("b", &["prod-b"], 4.0),
            img("c", &["dev-c"], 3.0),
            img("d", &[], 2.0),
        ];
        let p = parse(
            r#"{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}},
               {"rulePriority":9,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}"#,
        );
        assert_eq!(digests(&evaluate(&p, &images, NOW)), vec![("c", 9)]);
    }

    #[test]
    fn tagged_images_no_rule_selects_stay() {
        let images = vec![img("a", &["x"], 100.0), img("b", &[], 100.0)];
        let p = parse(UNTAGGED_1D);
        assert_eq!(digests(&evaluate(&p, &images, NOW)), vec![("b", 2)]);
    }

    #[test]
    fn protected_images_are_counted_but_never_expired() {
        let mut child = img("child", &[], 10.0);
        child.protected = true;
        let images = vec![child, img("u", &[], 9.0), img("new", &[], 0.0)];
        let p = parse(
            r#"{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}"#,
        );
        assert_eq!(digests(&evaluate(&p, &images, NOW)), vec![("u", 1)]);
    }

    #[test]
    fn since_pulled_uses_the_last_pull_else_the_push() {
        let mut pulled = img("pulled", &["v1"], 30.0);
        pulled.last_pulled_at = Some(NOW - DAY_SECS);
        let images = vec![pulled, img("never", &["v2"], 30.0)];
        let p = parse(
            r#"{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["v*"],"countType":"sinceImagePulled","countUnit":"days","countNumber":7},"action":{"type":"expire"}}"#,
        );
        assert_eq!(digests(&evaluate(&p, &images, NOW)), vec![("never", 1)]);
    }

    #[test]
    fn count_keeps_exactly_n_whatever_the_order_given() {
        // A small exhaustive check over push orders: the survivors of
        // "any, keep n" are always the n newest.
        for n in 0..6u32 {
            for seed in 0..20u64 {
                let mut images: Vec<ImageFacts> = (0..5)
                    .map(|i| img(&format!("i{i}"), &[], ((i as u64 * 7 + seed * 3) % 11) as f64))
                    .collect();
                images.rotate_left((seed % 5) as usize);
                let Ok(p) = Policy::parse(&format!(
                    r#"{{"rules":[{{"rulePriority":1,"selection":{{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":{n}}},"action":{{"type":"expire"}}}}]}}"#
                )) else {
                    assert_eq!(n, 0);
                    continue;
                };
                let expired: HashSet<String> = evaluate(&p, &images, NOW).into_iter().map(|e| e.digest).collect();
                let mut sorted = images.clone();
                sorted.sort_by(newest_first);
                let kept: Vec<&str> = sorted
                    .iter()
                    .map(|i| i.digest.as_str())
                    .filter(|d| !expired.contains(*d))
                    .collect();
                let want: Vec<&str> = sorted.iter().take(n as usize).map(|i| i.digest.as_str()).collect();
                assert_eq!(kept, want);
            }
        }
    }
}
