//! `GetInstance`. Immediately consistent once the registration succeeded (AWS may briefly say
//! `InstanceNotFound`; spec §6.1 EMU-REC).

use super::common::Context;
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::InstanceRefInput,
) -> Result<wire::GetInstanceOutput, ApiError> {
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "serviceId", &input.service_id);
    if let Some(id) = v.required("instanceId", &input.instance_id) {
        v.length("instanceId", id, 0, 64);
    }
    v.finish()?;
    let raw = input.service_id.unwrap_or_default();
    let service_id = ctx.service_id(&raw)?;
    let instance_id = input.instance_id.unwrap_or_default();
    let registry = ctx.state.store.read();
    registry
        .service(&ctx.region, &service_id)
        .ok_or_else(|| ApiError::service_not_found(&raw))?;
    let instance = registry
        .instance(&service_id, &instance_id)
        .ok_or_else(|| ApiError::instance_not_found(&instance_id))?;
    Ok(wire::GetInstanceOutput {
        resource_owner: ctx.account().to_owned(),
        instance: ctx.instance_to_wire(instance, true),
    })
}
