//! `CreatePublicDnsNamespace`: like a private DNS namespace, for a public domain name.
//! Differs from AWS: the domain is not checked for registration, and "public" records are served
//! only by our DNS server (nothing is delegated on the Internet).

use super::common::Context;
use super::create_namespace::{self, Draft};
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::model::NamespaceType;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::CreatePublicDnsNamespaceInput,
) -> Result<wire::OperationIdOutput, ApiError> {
    let mut v = Validator::new();
    if let Some(name) = v.required("name", &input.name) {
        validate::public_namespace_name(&mut v, "name", name);
    }
    let tags = create_namespace::validate_common(
        &mut v,
        input.creator_request_id.as_ref(),
        input.description.as_ref(),
        input.tags.as_ref(),
    );
    let soa_ttl = create_namespace::soa_ttl(&mut v, input.properties.as_ref());
    v.finish()?;
    let name = input.name.unwrap_or_default();
    create_namespace::check_tag_quota(&name, tags.len())?;
    create_namespace::submit(
        ctx,
        Draft {
            name,
            kind: NamespaceType::DnsPublic,
            vpc: None,
            description: input.description,
            soa_ttl,
            token: super::common::idempotency_token(input.creator_request_id),
            tags,
        },
    )
    .await
}
