//! `CreatePrivateDnsNamespace`: a namespace whose services get DNS records, answered by our
//! authoritative DNS server (standing in for a Route 53 private hosted zone).
//! Differs from AWS: the VPC is stored but not checked (there is no VPC here); a DNS namespace of
//! the same name in the region (private or public) is `NamespaceAlreadyExists`, since one DNS
//! server serves one zone per name — except a private one on the same VPC, which is accepted and
//! whose operation fails with `CANNOT_CREATE_HOSTED_ZONE`, as AWS does (see `create_namespace`).

use super::common::Context;
use super::create_namespace::{self, Draft};
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::model::NamespaceType;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::CreatePrivateDnsNamespaceInput,
) -> Result<wire::OperationIdOutput, ApiError> {
    let mut v = Validator::new();
    if let Some(name) = v.required("name", &input.name) {
        validate::namespace_name(&mut v, "name", name, 253);
    }
    if let Some(vpc) = v.required("vpc", &input.vpc) {
        v.length("vpc", vpc, 0, 64);
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
            kind: NamespaceType::DnsPrivate,
            vpc: input.vpc,
            description: input.description,
            soa_ttl,
            token: super::common::idempotency_token(input.creator_request_id),
            tags,
        },
    )
    .await
}
