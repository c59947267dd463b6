//! TagResource, UntagResource, ListTagsForResource for clusters, task definitions, services and
//! tasks. Differs from AWS: container instances and capacity providers do not exist here.

use serde_json::{Value, json};

use super::common::{Ctx, check_tags, invalid};
use super::wire;
use crate::api::error::ApiError;
use crate::ecs::model::Tag;
use crate::ecs::store::{EcsChange, EcsState};

fn not_found() -> ApiError {
    ApiError::new(
        "ResourceNotFoundException",
        "The specified resource could not be found.",
    )
}

fn exists(state: &EcsState, arn: &str) -> bool {
    state.clusters.contains_key(arn)
        || state.task_definitions.contains_key(arn)
        || state.services.contains_key(arn)
        || state.tasks.contains_key(arn)
}

fn resource(value: Option<String>) -> Result<String, ApiError> {
    let arn = value.ok_or_else(|| invalid("resourceArn is required"))?;
    if !arn.starts_with("arn:aws:ecs:") {
        return Err(invalid(format!("Invalid resourceArn {arn}")));
    }
    Ok(arn)
}

/// Adds tags; a key that exists gets the new value.
pub async fn tag_resource(ctx: &Ctx<'_>, input: wire::TagResourceInput) -> Result<Value, ApiError> {
    let arn = resource(input.resource_arn)?;
    let new = input.tags.ok_or_else(|| invalid("tags is required"))?;
    check_tags(&new)?;
    ctx.ecs.store.write(|state| {
        if !exists(state, &arn) {
            return Err(not_found());
        }
        let mut tags = state.tags_of(&arn);
        for tag in new {
            match tags.iter_mut().find(|t| t.key == tag.key) {
                Some(existing) => existing.value = tag.value,
                None => tags.push(tag),
            }
        }
        check_tags(&tags)?;
        Ok((json!({}), vec![EcsChange::PutTags(arn.clone(), tags)]))
    })
}

pub async fn untag_resource(
    ctx: &Ctx<'_>,
    input: wire::UntagResourceInput,
) -> Result<Value, ApiError> {
    let arn = resource(input.resource_arn)?;
    let keys = input
        .tag_keys
        .ok_or_else(|| invalid("tagKeys is required"))?;
    ctx.ecs.store.write(|state| {
        if !exists(state, &arn) {
            return Err(not_found());
        }
        let tags: Vec<Tag> = state
            .tags_of(&arn)
            .into_iter()
            .filter(|t| !keys.contains(&t.key))
            .collect();
        Ok((json!({}), vec![EcsChange::PutTags(arn.clone(), tags)]))
    })
}

pub async fn list_tags_for_resource(
    ctx: &Ctx<'_>,
    input: wire::ResourceArnInput,
) -> Result<Value, ApiError> {
    let arn = resource(input.resource_arn)?;
    ctx.ecs.store.read(|state| {
        if !exists(state, &arn) {
            return Err(not_found());
        }
        Ok(json!({"tags": super::common::tags_json(&state.tags_of(&arn))}))
    })
}
