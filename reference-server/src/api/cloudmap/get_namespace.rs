//! `GetNamespace`. A namespace whose CREATE_NAMESPACE operation has not succeeded yet is not
//! found, as on AWS. Differs from AWS: none known.

use super::common::Context;
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::IdInput,
) -> Result<wire::GetNamespaceOutput, ApiError> {
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "id", &input.id);
    v.finish()?;
    let raw = input.id.unwrap_or_default();
    let id = ctx.namespace_id(&raw)?;
    let registry = ctx.state.store.read();
    let namespace = registry
        .namespace(&ctx.region, &id)
        .ok_or_else(|| ApiError::namespace_not_found(&raw))?;
    Ok(wire::GetNamespaceOutput {
        namespace: ctx.namespace_to_wire(namespace, registry.service_count(&id), false),
    })
}
