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
                // AWS's text, as Terraform and the aws CLI printed it (hashicorp/terraform#18264,
                // hashicorp/terraform-provider-aws#4853). A registration still in progress keeps
                // the service in use too; AWS's wording for that case has not been observed.
                return Err(ApiError::new(
                    "ResourceInUse",
                    "Service contains registered instances; delete the instances before deleting the service",
                ));
            }
            Ok(((), vec![Change::DeleteService(id)]))
        })
        .await?;
    Ok(wire::Empty {})
}
