//! `ListTagsForResource`: the tags of a namespace or service, ordered by key.

use super::common::Context;
use super::tags;
use super::validate::Validator;
use super::wire;
use crate::api::error::ApiError;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::ListTagsForResourceInput,
) -> Result<wire::ListTagsForResourceOutput, ApiError> {
    let mut v = Validator::new();
    if let Some(arn) = v.required("resourceARN", &input.resource_arn) {
        v.length("resourceARN", arn, 1, 1011);
    }
    v.finish()?;
    let arn = input.resource_arn.unwrap_or_default();
    let registry = ctx.state.store.read();
    let resource = tags::resolve(ctx, &registry, &arn)?;
    let current =
        tags::tags_of(&ctx.region, &registry, &resource).ok_or_else(|| tags::not_found(&arn))?;
    Ok(wire::ListTagsForResourceOutput {
        tags: current
            .iter()
            .map(|(key, value)| wire::Tag {
                key: Some(key.clone()),
                value: Some(value.clone()),
            })
            .collect(),
    })
}
