//! `UntagResource`: removes the given keys; unknown keys are ignored. Differs from AWS: none known.

use super::common::Context;
use super::tags;
use super::validate::Validator;
use super::wire;
use crate::api::error::ApiError;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::UntagResourceInput,
) -> Result<wire::Empty, ApiError> {
    let mut v = Validator::new();
    if let Some(arn) = v.required("resourceARN", &input.resource_arn) {
        v.length("resourceARN", arn, 1, 1011);
    }
    if let Some(keys) = v.required("tagKeys", &input.tag_keys) {
        v.list_size("tagKeys", keys, 0, 200);
        for key in keys {
            v.length("tagKeys.member", key, 1, 128);
        }
    }
    v.finish()?;
    let arn = input.resource_arn.unwrap_or_default();
    let resource = tags::resolve(ctx, &ctx.state.store.read(), &arn)?;
    let keys = input.tag_keys.unwrap_or_default();
    let region = ctx.region.clone();
    ctx.state
        .store
        .write(move |registry| {
            let mut current = tags::tags_of(&region, registry, &resource)
                .cloned()
                .ok_or_else(|| tags::not_found(&arn))?;
            let before = current.len();
            for key in &keys {
                current.remove(key);
            }
            let changes = if current.len() == before {
                Vec::new()
            } else {
                tags::retag(&region, registry, &resource, current)
                    .into_iter()
                    .collect()
            };
            Ok(((), changes))
        })
        .await?;
    Ok(wire::Empty {})
}
