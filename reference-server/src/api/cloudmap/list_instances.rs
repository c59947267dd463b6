//! `ListInstances`, paginated in instance-id order. Differs from AWS: none known.

use super::common::{Context, decode_token, encode_token};
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::ListInstancesInput,
) -> Result<wire::ListInstancesOutput, ApiError> {
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "serviceId", &input.service_id);
    let limit = validate::max_results(&mut v, input.max_results, 100);
    validate::next_token(&mut v, input.next_token.as_ref());
    v.finish()?;
    let raw = input.service_id.unwrap_or_default();
    let service_id = ctx.service_id(&raw)?;
    let after = input.next_token.as_deref().map(decode_token).transpose()?;
    let registry = ctx.state.store.read();
    registry
        .service(&ctx.region, &service_id)
        .ok_or_else(|| ApiError::service_not_found(&raw))?;
    let mut page: Vec<_> = registry
        .instances_after(&service_id, after.as_deref())
        .take(limit + 1)
        .collect();
    let next_token = (page.len() > limit)
        .then(|| page.get(limit - 1).map(|i| encode_token(&i.id)))
        .flatten();
    page.truncate(limit);
    Ok(wire::ListInstancesOutput {
        resource_owner: ctx.account().to_owned(),
        instances: page
            .into_iter()
            .map(|i| ctx.instance_to_wire(i, false))
            .collect(),
        next_token,
    })
}
