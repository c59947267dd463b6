//! What DiscoverInstances and DiscoverInstancesRevision share: validating the names and finding
//! the service by namespace HttpName and service name.

use super::common::Context;
use super::validate::{self, Validator};
use crate::api::error::ApiError;
use crate::model::Service;
use crate::store::Registry;

pub fn validate_names(
    v: &mut Validator,
    namespace: &Option<String>,
    service: &Option<String>,
    owner: Option<&String>,
) {
    if let Some(name) = v.required("namespaceName", namespace)
        && v.length("namespaceName", name, 1, 1024)
    {
        v.pattern(
            "namespaceName",
            name,
            name.chars().all(|c| ('!'..='~').contains(&c)),
            "^[!-~]{1,1024}$",
        );
    }
    if let Some(name) = v.required("serviceName", service) {
        validate::service_name(v, "serviceName", name);
    }
    validate::owner_account(v, owner);
}

/// The service `service_name` in the namespace whose HttpName is `namespace_name`. Service names
/// match case-insensitively in DNS namespaces and exactly in HTTP ones, like their uniqueness.
pub fn find<'r>(
    ctx: &Context<'_>,
    registry: &'r Registry,
    namespace_name: &str,
    service_name: &str,
    owner: Option<&String>,
) -> Result<&'r Service, ApiError> {
    let not_found = ApiError::namespace_name_not_found;
    if ctx.foreign_owner(owner) {
        return Err(not_found());
    }
    let namespace = registry
        .namespace_by_http_name(&ctx.region, namespace_name)
        .ok_or_else(not_found)?;
    let dns = namespace.kind.is_dns();
    registry
        .services_in_namespace(&namespace.id)
        .find(|s| {
            if dns {
                s.name.eq_ignore_ascii_case(service_name)
            } else {
                s.name == service_name
            }
        })
        .ok_or_else(|| ApiError::service_not_found(service_name))
}
