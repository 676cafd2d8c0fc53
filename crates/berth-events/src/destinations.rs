//! API destinations: CreateApiDestination, DescribeApiDestination,
//! ListApiDestinations, UpdateApiDestination, DeleteApiDestination. A
//! destination names a connection of this region and account (which must
//! exist), an endpoint (`https://`, or `http://` on loopback and private
//! addresses only, [`crate::http_target::check_endpoint`]), a method and an
//! optional rate limit the delivery worker paces its calls to. It is ACTIVE
//! while its connection is authorized, INACTIVE otherwise.

use crate::connections::connection_name_of;
use crate::http_target::check_endpoint;
use crate::inputs::{ApiDestinationInput, ListApiDestinationsInput, NameInput};
use crate::records::{
    CONNECTIONS, ConnectionRec, ConnectionState, DESTINATIONS, DestinationRec, HttpMethod, destination_key,
};
use crate::{Events, now_secs, put_guarded, store_error};
use berth_proto::AwsError;
use berth_store::{Compare, typed};
use serde_json::{Value, json};

fn destination_not_found(name: &str) -> AwsError {
    AwsError::resource_not_found(format!(
        "Failed to describe the api-destination(s). An api-destination '{name}' does not exist."
    ))
}

/// The name an API destination ARN of this region and account names
/// (`arn:aws:events:REGION:ACCOUNT:api-destination/NAME/UUID`) (pure).
pub fn destination_name_of<'a>(arn: &'a str, region: &str, account: &str) -> Option<&'a str> {
    crate::connections::named_arn(arn, "api-destination", region, account)
}

fn method(s: &str) -> Result<HttpMethod, AwsError> {
    HttpMethod::parse(s).ok_or_else(|| {
        AwsError::validation(format!(
            "HttpMethod {s} is not valid: use one of POST, GET, HEAD, OPTIONS, PUT, PATCH, DELETE."
        ))
    })
}

/// ACTIVE while the destination's connection is authorized (pure).
fn state(d: &DestinationRec, connections: &[ConnectionRec]) -> &'static str {
    match connections.iter().find(|c| c.arn == d.connection_arn) {
        Some(c) if c.state == ConnectionState::Authorized => "ACTIVE",
        _ => "INACTIVE",
    }
}

fn describe(d: &DestinationRec, state: &str) -> Value {
    let mut v = json!({
        "ApiDestinationArn": d.arn,
        "Name": d.name,
        "ApiDestinationState": state,
        "ConnectionArn": d.connection_arn,
        "InvocationEndpoint": d.endpoint,
        "HttpMethod": d.method.as_str(),
        "CreationTime": d.created,
        "LastModifiedTime": d.modified,
    });
    if let Some(r) = d.rate_per_second {
        v["InvocationRateLimitPerSecond"] = json!(r);
    }
    if let Some(desc) = &d.description {
        v["Description"] = json!(desc);
    }
    v
}

fn summary(d: &DestinationRec, state: &str) -> Value {
    json!({
        "ApiDestinationArn": d.arn,
        "ApiDestinationState": state,
        "CreationTime": d.created,
        "LastModifiedTime": d.modified,
    })
}

impl Events {
    pub(crate) async fn get_destination(
        &self,
        name: &str,
    ) -> Result<(DestinationRec, berth_store::Revision), AwsError> {
        typed::get::<DestinationRec>(self.store.as_ref(), &destination_key(name))
            .await
            .map_err(store_error)?
            .ok_or_else(|| destination_not_found(name))
    }

    async fn connections(&self) -> Result<Vec<ConnectionRec>, AwsError> {
        typed::list::<ConnectionRec>(self.store.as_ref(), CONNECTIONS)
            .await
            .map_err(store_error)
    }

    /// The connection `arn` names, which must exist.
    async fn existing_connection(&self, arn: &str) -> Result<ConnectionRec, AwsError> {
        let name = connection_name_of(arn, &self.scope.region, &self.scope.account).ok_or_else(|| {
            AwsError::validation(format!(
                "ConnectionArn {arn} is not a connection of this region and account \
                 (arn:aws:events:{}:{}:connection/NAME/ID).",
                self.scope.region, self.scope.account
            ))
        })?;
        match self.get_connection(name).await {
            Ok((c, _)) if c.arn == arn => Ok(c),
            _ => Err(AwsError::resource_not_found(format!(
                "Connection '{arn}' does not exist."
            ))),
        }
    }

    async fn write_destination(&self, d: &DestinationRec, expect: Compare) -> Result<(), AwsError> {
        let already = format!("An api-destination '{}' already exists.", d.name);
        put_guarded(
            &*self.store,
            destination_key(&d.name),
            d,
            expect,
            already,
            &format!("Api-destination {}", d.name),
        )
        .await
    }

    pub(crate) async fn create_api_destination(&self, i: ApiDestinationInput) -> Result<Value, AwsError> {
        let endpoint = i.invocation_endpoint.unwrap_or_default();
        check_endpoint(&endpoint).map_err(AwsError::validation)?;
        let method = method(i.http_method.as_deref().unwrap_or_default())?;
        let conn = self
            .existing_connection(i.connection_arn.as_deref().unwrap_or_default())
            .await?;
        let now = now_secs();
        let id = uuid::Uuid::new_v4().to_string();
        let d = DestinationRec {
            name: i.name.clone(),
            arn: self.scope.arn("events", format!("api-destination/{}/{id}", i.name)),
            connection_arn: conn.arn.clone(),
            endpoint,
            method,
            rate_per_second: i.invocation_rate_limit_per_second,
            description: i.description,
            created: now,
            modified: now,
        };
        self.write_destination(&d, Compare::Absent(destination_key(&d.name)))
            .await?;
        Ok(summary(&d, state(&d, &[conn])))
    }

    pub(crate) async fn describe_api_destination(&self, i: NameInput) -> Result<Value, AwsError> {
        let (d, _) = self.get_destination(&i.name).await?;
        Ok(describe(&d, state(&d, &self.connections().await?)))
    }

    pub(crate) async fn list_api_destinations(&self, i: ListApiDestinationsInput) -> Result<Value, AwsError> {
        let limit = i.limit.unwrap_or(100);
        let prefix = i.name_prefix.unwrap_or_default();
        let after = i.next_token.unwrap_or_default();
        let mut all: Vec<DestinationRec> = typed::list::<DestinationRec>(self.store.as_ref(), DESTINATIONS)
            .await
            .map_err(store_error)?
            .into_iter()
            .filter(|d| d.name.starts_with(&prefix) && d.name.as_str() > after.as_str())
            .filter(|d| i.connection_arn.as_deref().is_none_or(|c| c == d.connection_arn))
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let more = all.len() > limit;
        all.truncate(limit);
        let connections = self.connections().await?;
        let mut out =
            json!({ "ApiDestinations": all.iter().map(|d| describe(d, state(d, &connections))).collect::<Vec<_>>() });
        if more && let Some(last) = all.last() {
            out["NextToken"] = json!(last.name);
        }
        Ok(out)
    }

    pub(crate) async fn update_api_destination(&self, i: ApiDestinationInput) -> Result<Value, AwsError> {
        let (old, rev) = self.get_destination(&i.name).await?;
        let endpoint = i.invocation_endpoint.unwrap_or(old.endpoint.clone());
        check_endpoint(&endpoint).map_err(AwsError::validation)?;
        let method = match i.http_method.as_deref() {
            Some(m) => method(m)?,
            None => old.method,
        };
        let connection_arn = match i.connection_arn.as_deref() {
            Some(arn) => self.existing_connection(arn).await?.arn,
            None => old.connection_arn.clone(),
        };
        let d = DestinationRec {
            connection_arn,
            endpoint,
            method,
            rate_per_second: i.invocation_rate_limit_per_second.or(old.rate_per_second),
            description: i.description.or(old.description.clone()),
            modified: now_secs(),
            ..old
        };
        self.write_destination(&d, Compare::ModRevision(destination_key(&d.name), rev))
            .await?;
        Ok(summary(&d, state(&d, &self.connections().await?)))
    }

    pub(crate) async fn delete_api_destination(&self, i: NameInput) -> Result<Value, AwsError> {
        let (d, rev) = self.get_destination(&i.name).await?;
        let deleted = typed::delete_at(&*self.store, &destination_key(&d.name), rev)
            .await
            .map_err(store_error)?;
        if !deleted {
            return Err(AwsError::new(
                "ConcurrentModificationException",
                400,
                format!("Api-destination {} was changed by another request; try again.", d.name),
            ));
        }
        Ok(json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_arns_and_methods() {
        let arn = "arn:aws:events:us-east-1:000000000000:api-destination/orders/9f-1";
        assert_eq!(destination_name_of(arn, "us-east-1", "000000000000"), Some("orders"));
        assert_eq!(destination_name_of(arn, "us-east-1", "111111111111"), None);
        assert_eq!(method("PUT").unwrap(), HttpMethod::Put);
        assert!(method("CONNECT").is_err());
    }
}
