//! `CreateHttpNamespace`: an API-only namespace, created asynchronously (CREATE_NAMESPACE).
//! Differs from AWS: none known.

use super::common::Context;
use super::create_namespace::{self, Draft};
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::model::NamespaceType;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::CreateHttpNamespaceInput,
) -> Result<wire::OperationIdOutput, ApiError> {
    let mut v = Validator::new();
    if let Some(name) = v.required("name", &input.name) {
        validate::namespace_name(&mut v, "name", name, 1024);
    }
    let tags = create_namespace::validate_common(
        &mut v,
        input.creator_request_id.as_ref(),
        input.description.as_ref(),
        input.tags.as_ref(),
    );
    v.finish()?;
    let name = input.name.unwrap_or_default();
    create_namespace::check_tag_quota(&name, tags.len())?;
    create_namespace::submit(
        ctx,
        Draft {
            name,
            kind: NamespaceType::Http,
            vpc: None,
            description: input.description,
            soa_ttl: None,
            token: super::common::idempotency_token(input.creator_request_id),
            tags,
        },
    )
    .await
}
