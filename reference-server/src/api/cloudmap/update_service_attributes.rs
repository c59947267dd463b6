//! `UpdateServiceAttributes`: upserts; more than 30 in all fails with
//! `ServiceAttributesLimitExceededException`. Differs from AWS: none known.

use super::common::Context;
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::store::Change;

pub const MAX_SERVICE_ATTRIBUTES: usize = 30;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::UpdateServiceAttributesInput,
) -> Result<wire::Empty, ApiError> {
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "serviceId", &input.service_id);
    if let Some(attributes) = v.required("attributes", &input.attributes) {
        let entries: Vec<_> = attributes.iter().collect();
        v.list_size("attributes", &entries, 1, MAX_SERVICE_ATTRIBUTES);
        for (key, value) in attributes {
            v.length("attributes.key", key, 0, 255);
            v.length("attributes.value", value, 0, 1024);
        }
    }
    v.finish()?;
    let raw = input.service_id.unwrap_or_default();
    let id = ctx.service_id(&raw)?;
    let region = ctx.region.clone();
    let attributes = input.attributes.unwrap_or_default();
    ctx.state
        .store
        .write(move |registry| {
            let mut service = registry
                .service(&region, &id)
                .ok_or_else(|| ApiError::service_not_found(&raw))?
                .clone();
            service.attributes.extend(attributes);
            if service.attributes.len() > MAX_SERVICE_ATTRIBUTES {
                return Err(ApiError::new(
                    "ServiceAttributesLimitExceededException",
                    format!("A service can have at most {MAX_SERVICE_ATTRIBUTES} attributes"),
                ));
            }
            Ok(((), vec![Change::PutService(service)]))
        })
        .await?;
    Ok(wire::Empty {})
}
