//! The naming and tag rules of ELBv2 (pure): load balancer and target
//! group names, tags on create and on AddTags.

use crate::errors::{LbError, invalid};
use crate::records::Tag;

/// The longest name of a load balancer or target group.
pub const MAX_NAME: usize = 32;

/// A load balancer's name: 1–32 alphanumerics or hyphens, no hyphen at
/// either end, not `internal-…`.
pub fn check_lb_name(name: &str) -> Result<(), LbError> {
    check_name("Load balancer", name)?;
    if name.starts_with("internal-") {
        return Err(invalid(format!(
            "Load balancer name '{name}' cannot begin with 'internal-'"
        )));
    }
    Ok(())
}

/// A target group's name: 1–32 alphanumerics or hyphens, no hyphen at either end.
pub fn check_tg_name(name: &str) -> Result<(), LbError> {
    check_name("Target group", name)
}

fn check_name(what: &str, name: &str) -> Result<(), LbError> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(invalid(format!(
            "{what} name '{name}' must be between 1 and {MAX_NAME} characters long"
        )));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(invalid(format!(
            "{what} name '{name}' can only contain characters that are alphanumeric characters or hyphens(-)"
        )));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(invalid(format!("{what} name '{name}' cannot begin or end with '-'")));
    }
    Ok(())
}

/// The most tags a resource holds.
pub const MAX_TAGS: usize = 50;

/// Tags given to a resource (on create, or added to `existing`): the
/// shared tag rule, ELBv2's codes; the result, keys replaced in place.
pub fn merge_tags(existing: &[Tag], added: &[Tag]) -> Result<Vec<Tag>, LbError> {
    let mut seen = std::collections::HashSet::new();
    for t in added {
        if !seen.insert(t.key.as_str()) {
            return Err(LbError::DuplicateTagKeys(format!("Tag key '{}' is duplicated", t.key)));
        }
        if t.key
            .to_ascii_lowercase()
            .starts_with(berth_core::tags::RESERVED_PREFIX)
        {
            return Err(invalid(format!(
                "Tag key '{}' cannot start with the reserved prefix 'aws:'",
                t.key
            )));
        }
    }
    let mut out = existing.to_vec();
    for t in added {
        match out.iter_mut().find(|e| e.key == t.key) {
            Some(e) => e.value = t.value.clone(),
            None => out.push(t.clone()),
        }
    }
    if out.len() > MAX_TAGS {
        return Err(LbError::TooManyTags(format!(
            "The quota for the number of tags that can be assigned to a load balancer or target group is {MAX_TAGS}"
        )));
    }
    Ok(out)
}

/// The tags as (key, value) pairs, for `aws:ResourceTag/…` and `aws:RequestTag/…`.
pub fn pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone().unwrap_or_default()))
        .collect()
}

#[cfg(test)]
#[path = "names_tests.rs"]
mod tests;
