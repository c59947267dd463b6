//! What the tag operations share: resolving a namespace or service ARN of this account and
//! region (instances have no ARN and can't be tagged). Anything else is
//! `ResourceNotFoundException`, the only not-found error the tag APIs model.

use super::common::Context;
use crate::api::error::ApiError;
use crate::model::{NamespaceId, Region, ServiceId, Tags};
use crate::store::{Change, Registry};

pub enum Resource {
    Namespace(NamespaceId),
    Service(ServiceId),
}

pub fn resolve(ctx: &Context<'_>, registry: &Registry, arn: &str) -> Result<Resource, ApiError> {
    let not_found = || not_found(arn);
    if arn.contains(":namespace/") {
        let id = ctx.namespace_id(arn).map_err(|_| not_found())?;
        registry.namespace(&ctx.region, &id).ok_or_else(not_found)?;
        return Ok(Resource::Namespace(id));
    }
    if arn.contains(":service/") {
        let id = ctx.service_id(arn).map_err(|_| not_found())?;
        registry.service(&ctx.region, &id).ok_or_else(not_found)?;
        return Ok(Resource::Service(id));
    }
    Err(not_found())
}

pub fn tags_of<'r>(
    region: &Region,
    registry: &'r Registry,
    resource: &Resource,
) -> Option<&'r Tags> {
    match resource {
        Resource::Namespace(id) => registry.namespace(region, id).map(|ns| &ns.tags),
        Resource::Service(id) => registry.service(region, id).map(|s| &s.tags),
    }
}

pub fn not_found(arn: &str) -> ApiError {
    ApiError::new(
        "ResourceNotFoundException",
        format!("Resource not found: {arn}"),
    )
}

/// The change that stores `tags` on the resource.
pub fn retag(
    region: &Region,
    registry: &Registry,
    resource: &Resource,
    tags: Tags,
) -> Option<Change> {
    match resource {
        Resource::Namespace(id) => registry.namespace(region, id).map(|ns| {
            let mut ns = ns.clone();
            ns.tags = tags;
            Change::PutNamespace(ns)
        }),
        Resource::Service(id) => registry.service(region, id).map(|s| {
            let mut s = s.clone();
            s.tags = tags;
            Change::PutService(s)
        }),
    }
}
