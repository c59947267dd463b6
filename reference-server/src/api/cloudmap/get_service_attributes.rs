//! `GetServiceAttributes`: `Attributes` is `{}` when there are none (spec §5.5 EMU-REC).

use super::common::Context;
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::GetServiceAttributesInput,
) -> Result<wire::GetServiceAttributesOutput, ApiError> {
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "serviceId", &input.service_id);
    v.finish()?;
    let raw = input.service_id.unwrap_or_default();
    let id = ctx.service_id(&raw)?;
    let registry = ctx.state.store.read();
    let service = registry
        .service(&ctx.region, &id)
        .ok_or_else(|| ApiError::service_not_found(&raw))?;
    Ok(wire::GetServiceAttributesOutput {
        service_attributes: wire::ServiceAttributes {
            service_arn: ctx.arn("service", id.as_str()),
            resource_owner: ctx.account().to_owned(),
            attributes: service.attributes.clone(),
        },
    })
}
