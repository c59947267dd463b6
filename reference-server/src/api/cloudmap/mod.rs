//! The Cloud Map API (`Route53AutoNaming_v20170314`): one file per operation, one enum to name
//! them, one exhaustive dispatch. Each operation's module doc lists how it differs from AWS.

pub mod common;
mod create_namespace;
mod discover;
mod filters;
mod service_config;
mod tags;
mod update_namespace;
pub mod validate;
pub mod wire;

mod create_http_namespace;
mod create_private_dns_namespace;
mod create_public_dns_namespace;
mod create_service;
mod delete_namespace;
mod delete_service;
mod delete_service_attributes;
pub mod deregister_instance;
mod discover_instances;
mod discover_instances_revision;
mod get_instance;
mod get_instances_health_status;
mod get_namespace;
mod get_operation;
mod get_service;
mod get_service_attributes;
mod list_instances;
mod list_namespaces;
mod list_operations;
mod list_services;
mod list_tags_for_resource;
pub mod register_instance;
mod tag_resource;
mod untag_resource;
mod update_http_namespace;
pub mod update_instance_custom_health_status;
mod update_private_dns_namespace;
mod update_public_dns_namespace;
mod update_service;
mod update_service_attributes;

use common::Context;

use crate::api::error::ApiError;

/// Tags per namespace or service (a quota, `TooManyTagsException`).
pub const MAX_TAGS: usize = 50;

macro_rules! operations {
    ($($name:ident => $module:ident),* $(,)?) => {
        /// Every Cloud Map operation, by its `X-Amz-Target` name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Op { $($name),* }

        impl Op {
            pub const ALL: &'static [Op] = &[$(Op::$name),*];

            pub fn name(self) -> &'static str {
                match self { $(Op::$name => stringify!($name)),* }
            }

            pub fn parse(name: &str) -> Option<Op> {
                Self::ALL.iter().copied().find(|op| op.name() == name)
            }
        }

        /// Parses the body into the operation's input, runs it and serialises its output.
        pub async fn dispatch(op: Op, ctx: &Context<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
            match op {
                $(Op::$name => {
                    let input = parse(body)?;
                    let output = $module::handle(ctx, input).await?;
                    serde_json::to_vec(&output).map_err(|e| ApiError::internal(e.to_string()))
                })*
            }
        }
    };
}

operations! {
    CreateHttpNamespace => create_http_namespace,
    CreatePrivateDnsNamespace => create_private_dns_namespace,
    CreatePublicDnsNamespace => create_public_dns_namespace,
    GetNamespace => get_namespace,
    ListNamespaces => list_namespaces,
    UpdateHttpNamespace => update_http_namespace,
    UpdatePrivateDnsNamespace => update_private_dns_namespace,
    UpdatePublicDnsNamespace => update_public_dns_namespace,
    DeleteNamespace => delete_namespace,
    CreateService => create_service,
    GetService => get_service,
    ListServices => list_services,
    UpdateService => update_service,
    DeleteService => delete_service,
    GetServiceAttributes => get_service_attributes,
    UpdateServiceAttributes => update_service_attributes,
    DeleteServiceAttributes => delete_service_attributes,
    RegisterInstance => register_instance,
    DeregisterInstance => deregister_instance,
    GetInstance => get_instance,
    ListInstances => list_instances,
    GetInstancesHealthStatus => get_instances_health_status,
    UpdateInstanceCustomHealthStatus => update_instance_custom_health_status,
    DiscoverInstances => discover_instances,
    DiscoverInstancesRevision => discover_instances_revision,
    GetOperation => get_operation,
    ListOperations => list_operations,
    TagResource => tag_resource,
    UntagResource => untag_resource,
    ListTagsForResource => list_tags_for_resource,
}

/// An empty body counts as `{}`; anything that is not a JSON object of the right member types is a
/// `SerializationException`, as AWS JSON services answer.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            "SerializationException",
            format!("The request body is not valid JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::new(
            "SerializationException",
            "The request body must be a JSON object",
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            "SerializationException",
            format!("The request body does not match the operation's input: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_thirty_operations_are_routed() {
        assert_eq!(Op::ALL.len(), 30);
        assert_eq!(Op::parse("DiscoverInstances"), Some(Op::DiscoverInstances));
        assert_eq!(Op::parse("Nope"), None);
    }
}
