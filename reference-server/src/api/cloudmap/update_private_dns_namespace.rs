//! `UpdatePrivateDnsNamespace`: description and SOA TTL (which our DNS server uses for negative
//! answers at once when the operation succeeds). Differs from AWS: none known.

use super::common::Context;
use super::update_namespace;
use super::wire;
use crate::api::error::ApiError;
use crate::model::NamespaceType;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::UpdateDnsNamespaceInput,
) -> Result<wire::OperationIdOutput, ApiError> {
    update_namespace::dns(ctx, input, NamespaceType::DnsPrivate).await
}
