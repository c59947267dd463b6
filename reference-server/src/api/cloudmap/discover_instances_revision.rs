//! `DiscoverInstancesRevision`: the service's instance revision, bumped by every completed
//! registration and deregistration and never by health changes (spec §9).

use super::common::Context;
use super::discover;
use super::validate::Validator;
use super::wire;
use crate::api::error::ApiError;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::DiscoverInstancesRevisionInput,
) -> Result<wire::DiscoverInstancesRevisionOutput, ApiError> {
    let mut v = Validator::new();
    discover::validate_names(
        &mut v,
        &input.namespace_name,
        &input.service_name,
        input.owner_account.as_ref(),
    );
    v.finish()?;
    let registry = ctx.state.store.read();
    let service = discover::find(
        ctx,
        &registry,
        input.namespace_name.as_deref().unwrap_or_default(),
        input.service_name.as_deref().unwrap_or_default(),
        input.owner_account.as_ref(),
    )?;
    Ok(wire::DiscoverInstancesRevisionOutput {
        instances_revision: service.instances_revision,
    })
}
