//! `TagResource`: adds or overwrites tags; more than 50 on the resource is
//! `TooManyTagsException` carrying the ARN. Differs from AWS: none known.

use super::common::Context;
use super::create_namespace::check_tag_quota;
use super::tags;
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::TagResourceInput,
) -> Result<wire::Empty, ApiError> {
    let mut v = Validator::new();
    if let Some(arn) = v.required("resourceARN", &input.resource_arn) {
        v.length("resourceARN", arn, 1, 1011);
    }
    let new_tags = v
        .required("tags", &input.tags)
        .map(|t| validate::tags(&mut v, "tags", t))
        .unwrap_or_default();
    v.finish()?;
    let arn = input.resource_arn.unwrap_or_default();
    let resource = tags::resolve(ctx, &ctx.state.store.read(), &arn)?;
    let region = ctx.region.clone();
    ctx.state
        .store
        .write(move |registry| {
            let mut current = tags::tags_of(&region, registry, &resource)
                .cloned()
                .ok_or_else(|| tags::not_found(&arn))?;
            current.extend(new_tags);
            check_tag_quota(&arn, current.len())?;
            Ok((
                (),
                tags::retag(&region, registry, &resource, current)
                    .into_iter()
                    .collect(),
            ))
        })
        .await?;
    Ok(wire::Empty {})
}
