//! `GetService`. Differs from AWS: none known.

use super::common::Context;
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::IdInput,
) -> Result<wire::ServiceOutput, ApiError> {
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "id", &input.id);
    v.finish()?;
    let raw = input.id.unwrap_or_default();
    let id = ctx.service_id(&raw)?;
    let registry = ctx.state.store.read();
    let service = registry
        .service(&ctx.region, &id)
        .ok_or_else(|| ApiError::service_not_found(&raw))?;
    Ok(wire::ServiceOutput {
        service: ctx.service_to_wire(service, registry.instance_count_of(&id), false),
    })
}
