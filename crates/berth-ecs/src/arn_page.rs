//! One page of an ECS list of ARNs (ListClusters, ListContainerInstances,
//! ListTasks): the ARNs of a list sorted by key, 100 a page by default
//! and at most (the `maxResults` these operations accept), and the
//! `nextToken` when more follow.

use berth_proto::AwsError;
use berth_proto::pagination::{paginate, with_next_token};
use serde_json::{Value, json};

/// The answer `{member: [ARN, …], "nextToken"?}` for the page of `keyed`
/// (key, ARN) pairs, sorted by key, that `next_token` and `max_results`
/// ask for.
pub(crate) fn arn_page(
    member: &str,
    keyed: Vec<(String, String)>,
    next_token: Option<&str>,
    max_results: Option<i64>,
) -> Result<Value, AwsError> {
    let (page, next) = paginate(keyed, |(key, _)| key.clone(), next_token, max_results, 100, 100)?;
    let arns: Vec<String> = page.into_iter().map(|(_, arn)| arn).collect();
    let mut out = json!({});
    out[member] = json!(arns);
    Ok(with_next_token(out, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_keys_and_name_the_member() {
        let keyed: Vec<(String, String)> = (0..150)
            .map(|i| (format!("{i:03}"), format!("arn:aws:ecs:r:1:task/c/{i:03}")))
            .collect();
        let first = arn_page("taskArns", keyed.clone(), None, None).unwrap();
        assert_eq!(first["taskArns"].as_array().unwrap().len(), 100);
        assert_eq!(first["taskArns"][0], "arn:aws:ecs:r:1:task/c/000");
        let token = first["nextToken"].as_str().unwrap();
        let second = arn_page("taskArns", keyed.clone(), Some(token), None).unwrap();
        assert_eq!(second["taskArns"].as_array().unwrap().len(), 50);
        assert_eq!(second["taskArns"][0], "arn:aws:ecs:r:1:task/c/100");
        assert!(second.get("nextToken").is_none());
        let e = arn_page("taskArns", keyed, None, Some(101)).unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
    }
}
