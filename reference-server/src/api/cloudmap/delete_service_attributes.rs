//! `DeleteServiceAttributes`: keys that don't exist are ignored (spec §5.5 EMU-REC).

use super::common::Context;
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::store::Change;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::DeleteServiceAttributesInput,
) -> Result<wire::Empty, ApiError> {
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "serviceId", &input.service_id);
    if let Some(keys) = v.required("attributes", &input.attributes) {
        v.list_size("attributes", keys, 1, 30);
        for key in keys {
            v.length("attributes.member", key, 0, 255);
        }
    }
    v.finish()?;
    let raw = input.service_id.unwrap_or_default();
    let id = ctx.service_id(&raw)?;
    let region = ctx.region.clone();
    let keys = input.attributes.unwrap_or_default();
    ctx.state
        .store
        .write(move |registry| {
            let mut service = registry
                .service(&region, &id)
                .ok_or_else(|| ApiError::service_not_found(&raw))?
                .clone();
            let before = service.attributes.len();
            for key in &keys {
                service.attributes.remove(key);
            }
            let changes = if service.attributes.len() == before {
                Vec::new()
            } else {
                vec![Change::PutService(service)]
            };
            Ok(((), changes))
        })
        .await?;
    Ok(wire::Empty {})
}
