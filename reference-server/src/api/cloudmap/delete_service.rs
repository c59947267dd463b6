//! `DeleteService` (synchronous): also deletes the service attributes; `ResourceInUse` while
//! instances are registered or a registration is in progress. Differs from AWS: none known.

use super::common::Context;
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::store::Change;

pub async fn handle(ctx: &Context<'_>, input: wire::IdInput) -> Result<wire::Empty, ApiError> {
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "id", &input.id);
    v.finish()?;
    let raw = input.id.unwrap_or_default();
    let id = ctx.service_id(&raw)?;
    let region = ctx.region.clone();
    ctx.state
        .store
        .write(move |registry| {
            if registry.service(&region, &id).is_none() {
                return Err(ApiError::service_not_found(&raw));
            }
            let instances = registry.instance_count_of(&id) + registry.pending_registrations(&id);
            if instances > 0 {
                return Err(ApiError::new(
                    "ResourceInUse",
                    format!(
                        "Service {id} can't be deleted because it contains {instances} instance(s)"
                    ),
                ));
            }
            Ok(((), vec![Change::DeleteService(id)]))
        })
        .await?;
    Ok(wire::Empty {})
}
