//! Connections: CreateConnection, DescribeConnection, ListConnections,
//! UpdateConnection, DeleteConnection, DeauthorizeConnection. A connection
//! authorizes the calls of its API destinations with BASIC or API_KEY
//! authorization and adds its invocation parameters; its secrets (the
//! password, the API key value, the parameters marked `IsValueSecret`) are
//! sealed ([`crate::sealing`]) and never returned. OAuth client credentials
//! and private connectivity are refused.

use crate::inputs::{AuthParametersInput, ConnectionInput, KeyValueParam, ListConnectionsInput, NameInput};
use crate::records::{
    AuthType, CONNECTIONS, ConnectionRec, ConnectionSecrets, ConnectionState, Param, ParamPlace, connection_key,
};
use crate::{Events, now_secs, put_guarded, sealing, store_error};
use berth_proto::AwsError;
use berth_store::{Compare, typed};
use serde_json::{Value, json};

pub(crate) fn connection_not_found(name: &str) -> AwsError {
    AwsError::resource_not_found(format!(
        "Failed to describe the connection(s). Connection '{name}' does not exist."
    ))
}

/// The name an EventBridge ARN of this region and account with a
/// `KIND/NAME/UUID` resource names (`arn:aws:events:REGION:ACCOUNT:KIND/NAME/UUID`),
/// if it is one (pure).
pub(crate) fn named_arn<'a>(arn: &'a str, kind: &str, region: &str, account: &str) -> Option<&'a str> {
    let rest = arn.strip_prefix(&format!("arn:aws:events:{region}:{account}:{kind}/"))?;
    let (name, id) = rest.split_once('/')?;
    (!name.is_empty() && !id.is_empty() && !id.contains('/')).then_some(name)
}

/// The name a connection ARN of this region and account names
/// (`arn:aws:events:REGION:ACCOUNT:connection/NAME/UUID`), if it is one (pure).
pub fn connection_name_of<'a>(arn: &'a str, region: &str, account: &str) -> Option<&'a str> {
    named_arn(arn, "connection", region, account)
}

fn auth_type(s: &str) -> Result<AuthType, AwsError> {
    match s {
        "BASIC" => Ok(AuthType::Basic),
        "API_KEY" => Ok(AuthType::ApiKey),
        "OAUTH_CLIENT_CREDENTIALS" => Err(AwsError::validation(
            "AuthorizationType OAUTH_CLIENT_CREDENTIALS is not supported by Berth: use BASIC or API_KEY.",
        )),
        other => Err(AwsError::validation(format!(
            "AuthorizationType {other} is not valid: use BASIC or API_KEY."
        ))),
    }
}

fn refuse_unsupported(i: &ConnectionInput) -> Result<(), AwsError> {
    let p = i.auth_parameters.as_ref();
    if i.invocation_connectivity_parameters.is_some() || p.is_some_and(|p| p.connectivity_parameters.is_some()) {
        return Err(AwsError::validation(
            "Connectivity parameters (private APIs through VPC Lattice) are not supported by Berth: a connection \
             calls its endpoints directly.",
        ));
    }
    if i.kms_key_identifier.is_some() {
        return Err(AwsError::validation(
            "KmsKeyIdentifier is not supported by Berth: connection secrets are sealed under the AWS managed key \
             aws/secretsmanager.",
        ));
    }
    if p.is_some_and(|p| p.oauth_parameters.is_some()) {
        return Err(AwsError::validation(
            "OAuthParameters are not supported by Berth: use BASIC or API_KEY authorization.",
        ));
    }
    Ok(())
}

/// The invocation parameters given: the stored ones (secret values left
/// out) and the secret ones with their values (pure).
fn params(given: &crate::inputs::InvocationHttpParameters) -> Result<(Vec<Param>, Vec<Param>), AwsError> {
    let mut stored = Vec::new();
    let mut secret = Vec::new();
    let lists: [(ParamPlace, &Option<Vec<KeyValueParam>>, &str); 3] = [
        (ParamPlace::Header, &given.header_parameters, "HeaderParameters"),
        (
            ParamPlace::Query,
            &given.query_string_parameters,
            "QueryStringParameters",
        ),
        (ParamPlace::Body, &given.body_parameters, "BodyParameters"),
    ];
    for (place, list, what) in lists {
        for p in list.iter().flatten() {
            let (Some(key), Some(value)) = (p.key.clone().filter(|k| !k.is_empty()), p.value.clone()) else {
                return Err(AwsError::validation(format!(
                    "InvocationHttpParameters.{what}: each parameter needs a Key and a Value."
                )));
            };
            let is_secret = p.is_value_secret.unwrap_or(false);
            let clear = if is_secret {
                secret.push(Param {
                    place,
                    key: key.clone(),
                    secret: true,
                    value: Some(value),
                });
                None
            } else {
                Some(value)
            };
            stored.push(Param {
                place,
                key,
                secret: is_secret,
                value: clear,
            });
        }
    }
    Ok((stored, secret))
}

/// The authorization a request gives for `auth`: the principal (user name
/// or API key header) and the secret, each possibly absent (pure).
fn credentials(auth: AuthType, p: &AuthParametersInput) -> Result<(Option<String>, Option<String>), AwsError> {
    match auth {
        AuthType::Basic => {
            if p.api_key_auth_parameters.is_some() {
                return Err(AwsError::validation(
                    "ApiKeyAuthParameters do not go with AuthorizationType BASIC: give BasicAuthParameters.",
                ));
            }
            Ok(p.basic_auth_parameters
                .as_ref()
                .map_or((None, None), |b| (b.username.clone(), b.password.clone())))
        }
        AuthType::ApiKey => {
            if p.basic_auth_parameters.is_some() {
                return Err(AwsError::validation(
                    "BasicAuthParameters do not go with AuthorizationType API_KEY: give ApiKeyAuthParameters.",
                ));
            }
            Ok(p.api_key_auth_parameters
                .as_ref()
                .map_or((None, None), |k| (k.api_key_name.clone(), k.api_key_value.clone())))
        }
    }
}

fn missing(auth: AuthType) -> AwsError {
    AwsError::validation(match auth {
        AuthType::Basic => "AuthorizationType BASIC requires BasicAuthParameters with a Username and a Password.",
        AuthType::ApiKey => {
            "AuthorizationType API_KEY requires ApiKeyAuthParameters with an ApiKeyName and an ApiKeyValue."
        }
    })
}

fn secrets_of(auth: AuthType, secret: String, params: Vec<Param>) -> ConnectionSecrets {
    match auth {
        AuthType::Basic => ConnectionSecrets {
            password: Some(secret),
            api_key_value: None,
            params,
        },
        AuthType::ApiKey => ConnectionSecrets {
            password: None,
            api_key_value: Some(secret),
            params,
        },
    }
}

/// DescribeConnection's answer: never a secret (pure).
pub(crate) fn describe(c: &ConnectionRec) -> Value {
    let mut auth = match c.auth {
        AuthType::Basic => json!({ "BasicAuthParameters": { "Username": c.principal } }),
        AuthType::ApiKey => json!({ "ApiKeyAuthParameters": { "ApiKeyName": c.principal } }),
    };
    if !c.params.is_empty() {
        let of = |place: ParamPlace| -> Vec<Value> {
            c.params
                .iter()
                .filter(|p| p.place == place)
                .map(|p| {
                    let mut v = json!({ "Key": p.key, "IsValueSecret": p.secret });
                    if let (false, Some(value)) = (p.secret, &p.value) {
                        v["Value"] = json!(value);
                    }
                    v
                })
                .collect()
        };
        auth["InvocationHttpParameters"] = json!({
            "HeaderParameters": of(ParamPlace::Header),
            "QueryStringParameters": of(ParamPlace::Query),
            "BodyParameters": of(ParamPlace::Body),
        });
    }
    let mut v = json!({
        "ConnectionArn": c.arn,
        "Name": c.name,
        "ConnectionState": c.state.as_str(),
        "AuthorizationType": c.auth.as_str(),
        "SecretArn": c.secret_arn,
        "AuthParameters": auth,
        "CreationTime": c.created,
        "LastModifiedTime": c.modified,
    });
    if let Some(d) = &c.description {
        v["Description"] = json!(d);
    }
    if let Some(t) = c.authorized {
        v["LastAuthorizedTime"] = json!(t);
    }
    v
}

/// The short answer of Update/Delete/Deauthorize (pure).
fn summary(c: &ConnectionRec, state: &str) -> Value {
    let mut v = json!({
        "ConnectionArn": c.arn,
        "ConnectionState": state,
        "CreationTime": c.created,
        "LastModifiedTime": c.modified,
    });
    if let Some(t) = c.authorized {
        v["LastAuthorizedTime"] = json!(t);
    }
    v
}

fn listed(c: &ConnectionRec) -> Value {
    let mut v = json!({
        "ConnectionArn": c.arn,
        "Name": c.name,
        "ConnectionState": c.state.as_str(),
        "AuthorizationType": c.auth.as_str(),
        "CreationTime": c.created,
        "LastModifiedTime": c.modified,
    });
    if let Some(t) = c.authorized {
        v["LastAuthorizedTime"] = json!(t);
    }
    v
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..6].to_string()
}

impl Events {
    pub(crate) fn sealer(&self) -> Result<&dyn sealing::SecretSealer, AwsError> {
        self.sealer
            .as_deref()
            .ok_or_else(|| AwsError::internal("EventBridge connections need KMS, which this server does not run."))
    }

    pub(crate) async fn get_connection(&self, name: &str) -> Result<(ConnectionRec, berth_store::Revision), AwsError> {
        typed::get::<ConnectionRec>(self.store.as_ref(), &connection_key(name))
            .await
            .map_err(store_error)?
            .ok_or_else(|| connection_not_found(name))
    }

    /// The secrets of `c`, opened (none once deauthorized).
    pub(crate) async fn connection_secrets(&self, c: &ConnectionRec) -> Result<ConnectionSecrets, AwsError> {
        match &c.sealed {
            None => Ok(ConnectionSecrets::default()),
            Some(s) => sealing::open(self.sealer()?, &c.secret_arn, s).await,
        }
    }

    async fn write_connection(&self, c: &ConnectionRec, expect: Compare) -> Result<(), AwsError> {
        let already = format!("Connection {} already exists.", c.name);
        put_guarded(
            &*self.store,
            connection_key(&c.name),
            c,
            expect,
            already,
            &format!("Connection {}", c.name),
        )
        .await
    }

    pub(crate) async fn create_connection(&self, i: ConnectionInput) -> Result<Value, AwsError> {
        refuse_unsupported(&i)?;
        let auth = auth_type(i.authorization_type.as_deref().unwrap_or_default())?;
        let given = i.auth_parameters.clone().unwrap_or_default();
        let (principal, secret) = credentials(auth, &given)?;
        let (Some(principal), Some(secret)) = (principal, secret) else {
            return Err(missing(auth));
        };
        let (stored, secret_params) = params(&given.invocation_http_parameters.clone().unwrap_or_default())?;
        let id = uuid::Uuid::new_v4().to_string();
        let arn = self.scope.arn("events", format!("connection/{}/{id}", i.name));
        let secret_arn = self.scope.arn(
            "secretsmanager",
            format!("secret:events!connection/{}/{id}-{}", i.name, random_suffix()),
        );
        let sealed = sealing::seal(self.sealer()?, &secret_arn, &secrets_of(auth, secret, secret_params)).await?;
        let now = now_secs();
        let c = ConnectionRec {
            name: i.name.clone(),
            arn,
            auth,
            state: ConnectionState::Authorized,
            description: i.description,
            principal,
            params: stored,
            sealed: Some(sealed),
            secret_arn,
            created: now,
            modified: now,
            authorized: Some(now),
        };
        self.write_connection(&c, Compare::Absent(connection_key(&c.name)))
            .await?;
        Ok(json!({
            "ConnectionArn": c.arn,
            "ConnectionState": c.state.as_str(),
            "CreationTime": c.created,
            "LastModifiedTime": c.modified,
        }))
    }

    pub(crate) async fn describe_connection(&self, i: NameInput) -> Result<Value, AwsError> {
        Ok(describe(&self.get_connection(&i.name).await?.0))
    }

    pub(crate) async fn list_connections(&self, i: ListConnectionsInput) -> Result<Value, AwsError> {
        let limit = i.limit.unwrap_or(100);
        let prefix = i.name_prefix.unwrap_or_default();
        let after = i.next_token.unwrap_or_default();
        let mut all: Vec<ConnectionRec> = typed::list::<ConnectionRec>(self.store.as_ref(), CONNECTIONS)
            .await
            .map_err(store_error)?
            .into_iter()
            .filter(|c| c.name.starts_with(&prefix) && c.name.as_str() > after.as_str())
            .filter(|c| i.connection_state.as_deref().is_none_or(|s| s == c.state.as_str()))
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let more = all.len() > limit;
        all.truncate(limit);
        let mut out = json!({ "Connections": all.iter().map(listed).collect::<Vec<_>>() });
        if more && let Some(last) = all.last() {
            out["NextToken"] = json!(last.name);
        }
        Ok(out)
    }

    pub(crate) async fn update_connection(&self, i: ConnectionInput) -> Result<Value, AwsError> {
        refuse_unsupported(&i)?;
        let (old, rev) = self.get_connection(&i.name).await?;
        let auth = match i.authorization_type.as_deref() {
            Some(t) => auth_type(t)?,
            None => old.auth,
        };
        let given = i.auth_parameters.clone().unwrap_or_default();
        let (principal, secret) = credentials(auth, &given)?;
        let old_secrets = self.connection_secrets(&old).await?;
        let same = auth == old.auth;
        let principal = principal.or_else(|| same.then(|| old.principal.clone()));
        let old_secret = match old.auth {
            AuthType::Basic => old_secrets.password.clone(),
            AuthType::ApiKey => old_secrets.api_key_value.clone(),
        };
        let secret = secret.or(if same { old_secret } else { None });
        let (Some(principal), Some(secret)) = (principal, secret) else {
            return Err(missing(auth));
        };
        let (stored, secret_params) = match &given.invocation_http_parameters {
            Some(p) => params(p)?,
            None => (old.params.clone(), old_secrets.params.clone()),
        };
        let sealed = sealing::seal(
            self.sealer()?,
            &old.secret_arn,
            &secrets_of(auth, secret, secret_params),
        )
        .await?;
        let now = now_secs();
        let c = ConnectionRec {
            auth,
            state: ConnectionState::Authorized,
            description: i.description.or(old.description.clone()),
            principal,
            params: stored,
            sealed: Some(sealed),
            modified: now,
            authorized: Some(now),
            ..old
        };
        self.write_connection(&c, Compare::ModRevision(connection_key(&c.name), rev))
            .await?;
        Ok(summary(&c, c.state.as_str()))
    }

    pub(crate) async fn deauthorize_connection(&self, i: NameInput) -> Result<Value, AwsError> {
        let (old, rev) = self.get_connection(&i.name).await?;
        let c = ConnectionRec {
            state: ConnectionState::Deauthorized,
            sealed: None,
            modified: now_secs(),
            ..old
        };
        self.write_connection(&c, Compare::ModRevision(connection_key(&c.name), rev))
            .await?;
        Ok(summary(&c, c.state.as_str()))
    }

    pub(crate) async fn delete_connection(&self, i: NameInput) -> Result<Value, AwsError> {
        let (old, rev) = self.get_connection(&i.name).await?;
        let deleted = typed::delete_at(&*self.store, &connection_key(&old.name), rev)
            .await
            .map_err(store_error)?;
        if !deleted {
            return Err(AwsError::new(
                "ConcurrentModificationException",
                400,
                format!("Connection {} was changed by another request; try again.", old.name),
            ));
        }
        Ok(summary(&old, "DELETING"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::InvocationHttpParameters;

    #[test]
    fn connection_arns_of_this_region_and_account() {
        let arn = "arn:aws:events:us-east-1:000000000000:connection/hooks/0b3f-11";
        assert_eq!(connection_name_of(arn, "us-east-1", "000000000000"), Some("hooks"));
        assert_eq!(connection_name_of(arn, "eu-west-1", "000000000000"), None);
        assert_eq!(
            connection_name_of(
                "arn:aws:events:us-east-1:000000000000:connection/hooks",
                "us-east-1",
                "000000000000"
            ),
            None
        );
    }

    #[test]
    fn secret_parameters_are_kept_apart() {
        let kv = |k: &str, v: &str, s: bool| KeyValueParam {
            key: Some(k.into()),
            value: Some(v.into()),
            is_value_secret: Some(s),
        };
        let given = InvocationHttpParameters {
            header_parameters: Some(vec![kv("X-Team", "core", false), kv("X-Token", "t0p", true)]),
            query_string_parameters: None,
            body_parameters: Some(vec![kv("k", "v", false)]),
        };
        let (stored, secret) = params(&given).unwrap();
        assert_eq!(stored.len(), 3);
        assert_eq!(stored[1].value, None);
        assert!(stored[1].secret);
        assert_eq!(secret.len(), 1);
        assert_eq!(secret[0].value.as_deref(), Some("t0p"));
        let c = ConnectionRec {
            name: "c".into(),
            arn: "a".into(),
            auth: AuthType::Basic,
            state: ConnectionState::Authorized,
            description: None,
            principal: "alice".into(),
            params: stored,
            sealed: Some("sealed".into()),
            secret_arn: "s".into(),
            created: 1.0,
            modified: 1.0,
            authorized: Some(1.0),
        };
        let text = describe(&c).to_string();
        assert!(!text.contains("t0p") && !text.contains("sealed"), "{text}");
        assert_eq!(
            describe(&c)["AuthParameters"]["InvocationHttpParameters"]["HeaderParameters"][1],
            json!({"Key": "X-Token", "IsValueSecret": true})
        );
        let missing_value = InvocationHttpParameters {
            header_parameters: Some(vec![KeyValueParam {
                key: Some("k".into()),
                value: None,
                is_value_secret: None,
            }]),
            ..InvocationHttpParameters::default()
        };
        assert!(params(&missing_value).is_err());
    }

    #[test]
    fn oauth_is_refused() {
        assert!(
            auth_type("OAUTH_CLIENT_CREDENTIALS")
                .unwrap_err()
                .message
                .contains("not supported")
        );
        assert_eq!(auth_type("API_KEY").unwrap(), AuthType::ApiKey);
    }
}
