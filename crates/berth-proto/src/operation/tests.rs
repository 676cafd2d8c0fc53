use super::*;
use serde::Deserialize;
use serde_json::json;

/// A toy service: its scope is the request's account, its one tagged
/// resource `arn:toy:ACCOUNT:thing/tagged`.
struct Toy;

#[async_trait]
impl JsonServiceInfo for Toy {
    fn target_prefix(&self) -> &'static str {
        "Toy"
    }
    fn signing_name(&self) -> &'static str {
        "toy"
    }
    async fn resource_tags(&self, _ctx: &RequestContext, arn: &str) -> Vec<(String, String)> {
        if arn.ends_with("thing/tagged") {
            vec![("team".into(), "a".into())]
        } else {
            Vec::new()
        }
    }
}

impl OperationService for Toy {
    type Scope = String;
    fn scope(&self, ctx: &RequestContext) -> String {
        ctx.account_id.clone()
    }
    fn table() -> &'static Table<Toy> {
        &TABLE
    }
}

#[derive(Deserialize)]
struct ThingInput {
    name: String,
    #[serde(skip)]
    loaded: bool,
}

/// A body reader that takes a name of letters only.
fn read_thing(body: &[u8]) -> Option<(ThingInput, Summary)> {
    let input: ThingInput = serde_json::from_slice(body).ok()?;
    input.name.chars().all(char::is_alphabetic).then(|| {
        let summary = Summary {
            json_len: body.len(),
            top: vec![("name", crate::direct::Top::Text(input.name.clone()))],
            names: &["name"],
        };
        (input, summary)
    })
}

struct GetThing;

#[async_trait]
impl Operation<Toy> for GetThing {
    const NAME: &'static str = "GetThing";
    type Input = ThingInput;
    async fn load(_toy: &Toy, input: &mut ThingInput) {
        input.loaded = true;
    }
    fn read_body(body: &[u8]) -> Option<(ThingInput, Summary)> {
        read_thing(body)
    }
    fn resources(scope: &String, input: &ThingInput) -> Vec<AuthzResource> {
        vec![
            AuthzResource::untagged(format!("arn:toy:{scope}:thing/{}", input.name)),
            AuthzResource {
                action: Some("iam:PassRole".into()),
                ..AuthzResource::untagged(format!("arn:aws:iam::{scope}:role/{}", input.name))
            },
        ]
    }
    async fn run(_toy: &Toy, _ctx: &RequestContext, input: ThingInput) -> Result<Value, AwsError> {
        Ok(json!({"name": input.name, "loaded": input.loaded}))
    }
}

struct ListThings;

#[async_trait]
impl Operation<Toy> for ListThings {
    const NAME: &'static str = "ListThings";
    type Input = Value;
    fn resources(_scope: &String, _input: &Value) -> Vec<AuthzResource> {
        Vec::new()
    }
    async fn run(_toy: &Toy, _ctx: &RequestContext, _input: Value) -> Result<Value, AwsError> {
        Ok(json!({"things": []}))
    }
}

struct GetLoaded;

#[async_trait]
impl Operation<Toy> for GetLoaded {
    const NAME: &'static str = "GetLoaded";
    type Input = ThingInput;
    /// The tags are known from what `load` found: not looked up again.
    fn resources(scope: &String, _input: &ThingInput) -> Vec<AuthzResource> {
        vec![AuthzResource {
            tags: vec![("team".into(), "b".into())],
            ..AuthzResource::untagged(format!("arn:toy:{scope}:thing/tagged"))
        }]
    }
    async fn run(_toy: &Toy, _ctx: &RequestContext, _input: ThingInput) -> Result<Value, AwsError> {
        Ok(json!({}))
    }
}

static TABLE: Table<Toy> = Table(&[
    entry::<Toy, GetThing>(),
    entry::<Toy, ListThings>(),
    entry::<Toy, GetLoaded>(),
]);

fn ctx() -> RequestContext {
    RequestContext::root("000000000000", "us-east-1")
}

#[test]
fn the_table_lists_its_operations_in_order() {
    assert_eq!(TABLE.names(), ["GetThing", "ListThings", "GetLoaded"]);
    assert!(TABLE.find("GetThing").is_some());
    assert!(TABLE.find("DeleteThing").is_none());
}

#[test]
fn pure_resources_come_from_the_decoded_input() {
    let scope = "000000000000".to_string();
    let r = TABLE
        .resources_of(&scope, "GetThing", json!({"name": "x"}))
        .unwrap()
        .unwrap();
    assert_eq!(r[0].arn, "arn:toy:000000000000:thing/x");
    assert_eq!(r[1].action.as_deref(), Some("iam:PassRole"));
    let err = TABLE
        .resources_of(&scope, "GetThing", json!({"name": 3}))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, "SerializationException");
    assert!(TABLE.resources_of(&scope, "DeleteThing", json!({})).is_none());
}

#[tokio::test]
async fn a_prepared_request_has_tagged_resources_and_runs_with_the_loaded_input() {
    let ctx = ctx();
    let p = TABLE
        .prepare(&Toy, &ctx, "GetThing", json!({"name": "tagged"}))
        .await
        .unwrap();
    let r = p.resources().await;
    assert_eq!(r[0].tags, vec![("team".to_string(), "a".to_string())]);
    // A second permission is not the service's resource: no tags asked.
    assert!(r[1].tags.is_empty());
    assert_eq!(p.run().await.unwrap(), json!({"name": "tagged", "loaded": true}));
}

#[tokio::test]
async fn an_operation_with_no_resource_is_authorized_on_star() {
    let ctx = ctx();
    let r = Toy.authz_resources(&ctx, "ListThings", &json!({})).await;
    assert_eq!(r, vec![AuthzResource::untagged("*")]);
}

#[tokio::test]
async fn an_operation_not_in_the_table_is_unknown() {
    let ctx = ctx();
    let err = Toy.call(&ctx, "DeleteThing", json!({})).await.unwrap_err();
    assert_eq!(err.code, "UnknownOperationException");
    let err = TABLE.prepare(&Toy, &ctx, "GetThing", json!({})).await.err().unwrap();
    assert_eq!(err.code, "SerializationException");
}

#[tokio::test]
async fn tags_an_operation_gives_are_kept() {
    let ctx = ctx();
    let r = Toy.authz_resources(&ctx, "GetLoaded", &json!({"name": "x"})).await;
    assert_eq!(r[0].tags, vec![("team".to_string(), "b".to_string())]);
}

/// A service that authorizes itself: it lets through only `thing/open`.
struct Guarded;

#[async_trait]
impl JsonServiceInfo for Guarded {
    fn target_prefix(&self) -> &'static str {
        "Guarded"
    }
    fn signing_name(&self) -> &'static str {
        "guarded"
    }
    fn own_authorizer(&self) -> Option<&dyn OwnAuthorizer> {
        Some(self)
    }
}

impl OwnAuthorizer for Guarded {
    fn check(&self, _ctx: &RequestContext, action: &str, resource: &AuthzResource) -> Result<(), AwsError> {
        if resource.arn.ends_with("thing/open") {
            Ok(())
        } else {
            Err(AwsError::access_denied(format!("{action} on {}", resource.arn)))
        }
    }
}

impl OperationService for Guarded {
    type Scope = ();
    fn scope(&self, _ctx: &RequestContext) {}
    fn table() -> &'static Table<Guarded> {
        &GUARDED
    }
}

struct OpenThing;

#[async_trait]
impl Operation<Guarded> for OpenThing {
    const NAME: &'static str = "OpenThing";
    type Input = ThingInput;
    fn read_body(body: &[u8]) -> Option<(ThingInput, Summary)> {
        read_thing(body)
    }
    fn resources(_scope: &(), input: &ThingInput) -> Vec<AuthzResource> {
        vec![AuthzResource::untagged(format!("arn:guarded:thing/{}", input.name))]
    }
    async fn run(_g: &Guarded, _ctx: &RequestContext, input: ThingInput) -> Result<Value, AwsError> {
        Ok(json!({"name": input.name}))
    }
}

static GUARDED: Table<Guarded> = Table(&[entry::<Guarded, OpenThing>()]);

#[tokio::test]
async fn a_service_that_authorizes_itself_checks_each_resource_before_running() {
    let ctx = ctx();
    let ok = Guarded.call(&ctx, "OpenThing", json!({"name": "open"})).await.unwrap();
    assert_eq!(ok, json!({"name": "open"}));
    let err = Guarded
        .call(&ctx, "OpenThing", json!({"name": "shut"}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "AccessDeniedException");
    assert_eq!(err.message, "guarded:OpenThing on arn:guarded:thing/shut");
    // The listener's path: prepared once, checked when it runs.
    let p = Guarded
        .prepare(&ctx, "OpenThing", json!({"name": "shut"}))
        .await
        .unwrap();
    assert_eq!(
        p.resources().await,
        vec![AuthzResource::untagged("arn:guarded:thing/shut")]
    );
    assert!(p.run().await.is_err());
    // So is a request prepared from its body.
    let (_, p) = Guarded.prepare_body(&ctx, "OpenThing", br#"{"name":"shut"}"#).unwrap();
    let err = p.await.unwrap().run().await.unwrap_err();
    assert_eq!(err.message, "guarded:OpenThing on arn:guarded:thing/shut");
    let (_, p) = Guarded.prepare_body(&ctx, "OpenThing", br#"{"name":"open"}"#).unwrap();
    assert_eq!(p.await.unwrap().run().await.unwrap(), json!({"name": "open"}));
}

#[tokio::test]
async fn an_operation_with_a_reader_is_prepared_from_its_body_and_loaded() {
    let (toy, ctx) = (Toy, ctx());
    let (summary, prepared) = toy.prepare_body(&ctx, "GetThing", br#"{"name":"abc"}"#).expect("read");
    assert_eq!(summary.json_len, 14);
    assert_eq!(summary.top, vec![("name", crate::direct::Top::Text("abc".into()))]);
    let prepared = prepared.await.unwrap();
    assert_eq!(prepared.resources().await[0].arn, "arn:toy:000000000000:thing/abc");
    assert_eq!(prepared.run().await.unwrap(), json!({"name": "abc", "loaded": true}));
    // What the reader leaves, an operation without a reader, one not routed: the general path.
    assert!(toy.prepare_body(&ctx, "GetThing", br#"{"name":"a1"}"#).is_none());
    assert!(toy.prepare_body(&ctx, "ListThings", b"{}").is_none());
    assert!(toy.prepare_body(&ctx, "DeleteThing", br#"{"name":"abc"}"#).is_none());
}
