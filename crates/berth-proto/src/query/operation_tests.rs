//! The typed awsQuery layer on a toy service: routing through the table,
//! `InvalidAction` for an action not in it, the model checked before the
//! input is decoded, resources given their tags (second permissions and
//! new resources not), `*` for an operation not scoped, one decoding.

use super::*;
use crate::validate::{ErrorStyle, Kind, Member, Operation, Shape};
use serde::{Deserialize, Serialize};

/// A toy service whose one tagged resource is `arn:toy:ACCOUNT:thing/tagged`.
struct Toy;

#[async_trait]
impl QueryService for Toy {
    fn signing_name(&self) -> &'static str {
        "toy"
    }
    fn version(&self) -> &'static str {
        "2024-01-01"
    }
    fn xml_namespace(&self) -> &'static str {
        "urn:toy"
    }
    fn authz(&self, _: &RequestContext, _: &str, _: &QueryInput) -> Option<QueryAuthz> {
        None
    }
    async fn call(&self, ctx: &RequestContext, action: &str, input: &QueryInput) -> Result<QueryResult, AwsError> {
        TABLE.call(self, ctx, action, input).await
    }
    async fn prepare<'a>(
        &'a self,
        ctx: &'a RequestContext,
        action: &'a str,
        input: &'a QueryInput,
    ) -> Result<PreparedQuery<'a>, AwsError> {
        TABLE.prepare(self, ctx, action, input)
    }
}

// 0 GetThingInput { name: String (required, at most 6) }  1 Name
static SHAPES: &[Shape] = &[
    Shape {
        name: "GetThingInput",
        kind: Kind::Structure(&[Member {
            name: "name",
            shape: 1,
            required: true,
        }]),
        min: None,
        max: None,
        pattern: None,
    },
    Shape {
        name: "Name",
        kind: Kind::String,
        min: None,
        max: Some(6.0),
        pattern: None,
    },
];

static MODEL: ServiceModel = ServiceModel {
    operations: &[Operation {
        name: "GetThing",
        input: Some(0),
    }],
    shapes: SHAPES,
    style: ErrorStyle::Coral {
        code: "ValidationError",
    },
    left_to_handler: &[],
    extensions: &[],
};

#[async_trait]
impl QueryOperationService for Toy {
    type Scope = String;
    fn scope(&self, ctx: &RequestContext) -> String {
        ctx.account_id.clone()
    }
    fn model(&self) -> Option<&'static ServiceModel> {
        Some(&MODEL)
    }
    fn resource_tag_key_prefix(&self) -> Option<&'static str> {
        Some("toy:ResourceTag/")
    }
    async fn resource_tags(&self, _: &RequestContext, arn: &str) -> Vec<(String, String)> {
        if arn.ends_with("thing/tagged") {
            vec![("team".into(), "a".into())]
        } else {
            Vec::new()
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetThingInput {
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetThingOutput {
    name: String,
}

struct GetThing;

#[async_trait]
impl QueryOperation<Toy> for GetThing {
    const NAME: &'static str = "GetThing";
    type Input = GetThingInput;
    fn resources(scope: &String, input: &GetThingInput) -> Vec<AuthzResource> {
        vec![
            AuthzResource::untagged(format!("arn:toy:{scope}:thing/{}", input.name)),
            AuthzResource {
                action: Some("toy:TagThing".into()),
                ..AuthzResource::untagged(format!("arn:toy:{scope}:thing/{}", input.name))
            },
        ]
    }
    fn request_tags(input: &GetThingInput) -> Vec<(String, String)> {
        vec![("asked".into(), input.name.clone())]
    }
    async fn run(_: &Toy, _: &RequestContext, input: GetThingInput) -> Result<QueryResult, AwsError> {
        QueryResult::of(Self::NAME, &GetThingOutput { name: input.name })
    }
}

struct ListThings;

#[async_trait]
impl QueryOperation<Toy> for ListThings {
    const NAME: &'static str = "ListThings";
    type Input = ();
    fn decode(_: &QueryInput) -> Result<(), AwsError> {
        Ok(())
    }
    fn resources(_: &String, _: &()) -> Vec<AuthzResource> {
        Vec::new()
    }
    async fn run(_: &Toy, _: &RequestContext, _: ()) -> Result<QueryResult, AwsError> {
        Ok(QueryResult::no_members())
    }
}

static TABLE: QueryTable<Toy> = QueryTable(&[query_entry::<Toy, GetThing>(), query_entry::<Toy, ListThings>()]);

fn form(s: &str) -> QueryInput {
    QueryInput::parse(s.as_bytes()).expect("a form")
}

fn ctx() -> RequestContext {
    RequestContext::root("123456789012", "us-east-1")
}

#[tokio::test]
async fn a_request_is_routed_checked_decoded_authorized_and_run() {
    let ctx = ctx();
    let input = form("Action=GetThing&Version=2024-01-01&Name=tagged");
    let prepared = Toy.prepare(&ctx, "GetThing", &input).await.expect("prepared");
    let authz = prepared.authz().await.expect("authorized by identity policies");
    assert_eq!(authz.resources[0].arn, "arn:toy:123456789012:thing/tagged");
    assert_eq!(authz.resources[0].tags, vec![("team".to_string(), "a".to_string())]);
    assert_eq!(
        authz.resources[0].condition_keys,
        vec![("toy:ResourceTag/team".to_string(), "a".to_string())]
    );
    assert!(
        authz.resources[1].tags.is_empty() && authz.resources[1].condition_keys.is_empty(),
        "a second permission keeps its own tags"
    );
    assert_eq!(authz.request_tags, vec![("asked".to_string(), "tagged".to_string())]);
    let result = prepared.run().await.expect("ran");
    assert_eq!(
        result.as_xml("GetThing").as_deref(),
        Some("<GetThingResult><Name>tagged</Name></GetThingResult>")
    );
    let list_form = form("Action=ListThings");
    let list = Toy.prepare(&ctx, "ListThings", &list_form).await.unwrap();
    assert_eq!(
        list.authz().await.unwrap().resources,
        vec![AuthzResource::untagged("*")]
    );
    assert_eq!(
        list.run().await.unwrap().as_xml("ListThings").as_deref(),
        Some("<ListThingsResult></ListThingsResult>")
    );
}

#[tokio::test]
async fn refusals_before_anything_runs() {
    let ctx = ctx();
    let unknown = Toy
        .prepare(&ctx, "DeleteThing", &form("Action=DeleteThing"))
        .await
        .err()
        .unwrap();
    assert_eq!(
        (unknown.code.as_ref(), unknown.message.as_str()),
        (
            "InvalidAction",
            "Could not find operation DeleteThing for this endpoint"
        )
    );
    let long = Toy
        .prepare(&ctx, "GetThing", &form("Action=GetThing&Name=toolong"))
        .await
        .err()
        .unwrap();
    assert_eq!(long.code, "ValidationError");
    assert_eq!(
        long.message,
        "1 validation error detected: Value 'toolong' at 'name' failed to satisfy constraint: Member must have length less than or equal to 6"
    );
    assert_eq!(TABLE.names(), vec!["GetThing", "ListThings"]);
    let pure = TABLE
        .resources_of(&"1".to_string(), "GetThing", &form("Action=GetThing&Name=x"))
        .expect("routed")
        .expect("decoded");
    assert_eq!(pure[0].arn, "arn:toy:1:thing/x");
    assert!(
        TABLE
            .resources_of(&"1".to_string(), "Nope", &form("Action=Nope"))
            .is_none()
    );
}
