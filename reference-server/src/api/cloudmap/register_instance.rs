//! `RegisterInstance` (async, REGISTER_INSTANCE): creates or replaces (never merges) an instance.
//! The reserved attributes are checked against the service's records and health check
//! (spec §6.2); custom health starts at `AWS_INIT_HEALTH_STATUS` or HEALTHY, and re-registration
//! resets it (EMU-REC).
//!
//! Differs from AWS: `AWS_EC2_INSTANCE_ID` is stored but no EC2 lookup fills in
//! `AWS_INSTANCE_IPV4` (there is no EC2 here); a reused `CreatorRequestId` for another instance
//! is `DuplicateRequest` (UNCONFIRMED on AWS); the count quotas are off unless configured.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::common::{Context, NewOperation, duplicate_request};
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::model::instance::{
    AWS_ALIAS_DNS_NAME, AWS_EC2_INSTANCE_ID, AWS_INIT_HEALTH_STATUS, AWS_INSTANCE_CNAME,
    AWS_INSTANCE_IPV4, AWS_INSTANCE_IPV6, AWS_INSTANCE_PORT, RESERVED_ATTRIBUTES, usable_port,
};
use crate::model::{
    Attributes, HealthStatus, Instance, Mutation, NamespaceType, OperationType, RecordType,
    RoutingPolicy, Service, ServiceHealth, Timestamp,
};

const MAX_CUSTOM_ATTRIBUTES: usize = 30;
const MAX_ATTRIBUTE_CHARACTERS: usize = 5000;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::RegisterInstanceInput,
) -> Result<wire::OperationIdOutput, ApiError> {
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "serviceId", &input.service_id);
    if let Some(id) = v.required("instanceId", &input.instance_id) {
        validate::instance_id(&mut v, "instanceId", id);
    }
    validate::request_token(
        &mut v,
        "creatorRequestId",
        input.creator_request_id.as_ref(),
    );
    if let Some(attributes) = v.required("attributes", &input.attributes) {
        validate::attribute_map(&mut v, "attributes", attributes);
        let custom = attributes
            .keys()
            .filter(|k| !RESERVED_ATTRIBUTES.contains(&k.as_str()))
            .count();
        if custom > MAX_CUSTOM_ATTRIBUTES {
            v.rule(format!("An instance can have at most {MAX_CUSTOM_ATTRIBUTES} custom attributes, got {custom}"));
        }
        let characters: usize = attributes
            .iter()
            .map(|(k, val)| k.chars().count() + val.chars().count())
            .sum();
        if characters > MAX_ATTRIBUTE_CHARACTERS {
            v.rule(format!(
                "The attributes of an instance can total at most {MAX_ATTRIBUTE_CHARACTERS} characters, got {characters}"
            ));
        }
    }
    v.finish()?;
    let raw = input.service_id.unwrap_or_default();
    let service_id = ctx.service_id(&raw)?;
    let instance_id = input.instance_id.unwrap_or_default();
    let attributes = input.attributes.unwrap_or_default();
    let token = super::common::idempotency_token(input.creator_request_id);
    let region = ctx.region.clone();
    let quotas = ctx.state.config.quotas;
    let operations = ctx.state.operations.clone();
    let operation = ctx
        .state
        .store
        .write(move |registry| {
            let service = registry
                .service(&region, &service_id)
                .ok_or_else(|| ApiError::service_not_found(&raw))?;
            if let Some(token) = &token
                && let Some(previous) =
                    registry.operation_for_token(&region, OperationType::RegisterInstance, token)
            {
                return if previous.service_id.as_ref() == Some(&service_id)
                    && previous.instance_id.as_deref() == Some(instance_id.as_str())
                {
                    Ok((previous.id.clone(), Vec::new()))
                } else {
                    Err(duplicate_request(registry, previous))
                };
            }
            if let Some(pending) = registry.pending_on_instance(&service_id, &instance_id) {
                return Err(duplicate_request(registry, pending));
            }
            let namespace_kind = registry
                .namespace(&region, &service.namespace_id)
                .map_or(NamespaceType::Http, |ns| ns.kind);
            check_attributes(service, namespace_kind, &attributes)?;
            if registry.instance(&service_id, &instance_id).is_none() {
                let in_service = registry.instance_count_of(&service_id)
                    + registry.pending_registrations(&service_id);
                if quotas
                    .instances_per_service
                    .is_some_and(|limit| in_service >= limit)
                {
                    return Err(ApiError::new(
                        "ResourceLimitExceeded",
                        "The instance quota of the service has been reached",
                    ));
                }
                if let Some(limit) = quotas.instances_per_namespace {
                    let in_namespace: usize = registry
                        .services_in_namespace(&service.namespace_id)
                        .map(|s| {
                            registry.instance_count_of(&s.id)
                                + registry.pending_registrations(&s.id)
                        })
                        .sum();
                    if in_namespace >= limit {
                        return Err(ApiError::new(
                            "ResourceLimitExceeded",
                            "The instance quota of the namespace has been reached",
                        ));
                    }
                }
            }
            let health = initial_health(service, &attributes);
            let now = Timestamp::now();
            let instance = Instance {
                id: instance_id.clone(),
                service_id: service_id.clone(),
                attributes,
                creator_request_id: token.clone(),
                create_date: now,
                health,
            };
            let operation = NewOperation {
                kind: OperationType::RegisterInstance,
                token,
                namespace_id: None,
                service_id: Some(service_id),
                instance_id: Some(instance_id),
                mutation: Mutation::RegisterInstance(instance),
            }
            .build(&region, now);
            let id = operation.id.clone();
            Ok((id, operations.accept(registry, operation)))
        })
        .await?;
    ctx.state.operations.submit(operation.clone());
    Ok(wire::OperationIdOutput {
        operation_id: operation.0,
    })
}

/// The status an instance starts with (spec §7): custom health starts at
/// `AWS_INIT_HEALTH_STATUS` (default HEALTHY); probed and unchecked instances are UNKNOWN until
/// a probe says otherwise.
pub fn initial_health(service: &Service, attributes: &Attributes) -> HealthStatus {
    match service.health {
        ServiceHealth::Custom => match attributes.get(AWS_INIT_HEALTH_STATUS).map(String::as_str) {
            Some("UNHEALTHY") => HealthStatus::Unhealthy,
            _ => HealthStatus::Healthy,
        },
        ServiceHealth::Probed(_) | ServiceHealth::None => HealthStatus::Unknown,
    }
}

/// The rules of the reserved attributes (spec §6.2).
fn check_attributes(
    service: &Service,
    namespace: NamespaceType,
    attributes: &Attributes,
) -> Result<(), ApiError> {
    let has = |key: &str| attributes.contains_key(key);
    let missing =
        |key: &str, why: &str| ApiError::invalid_input(format!("{key} is required because {why}"));
    if let Some(ipv4) = attributes.get(AWS_INSTANCE_IPV4)
        && ipv4.parse::<Ipv4Addr>().is_err()
    {
        return Err(ApiError::invalid_input(format!(
            "{AWS_INSTANCE_IPV4} is not a valid IPv4 address: {ipv4}"
        )));
    }
    if let Some(ipv6) = attributes.get(AWS_INSTANCE_IPV6)
        && ipv6.parse::<Ipv6Addr>().is_err()
    {
        return Err(ApiError::invalid_input(format!(
            "{AWS_INSTANCE_IPV6} is not a valid IPv6 address: {ipv6}"
        )));
    }
    if let Some(port) = attributes.get(AWS_INSTANCE_PORT) {
        if port.parse::<u16>().is_err() {
            return Err(ApiError::invalid_input(format!(
                "{AWS_INSTANCE_PORT} must be a port from 0 to 65535: {port}"
            )));
        }
        // Where the port is used — an SRV record names it, a health check probes it — AWS
        // refuses "0" in these words (hashicorp/consul-aws#8: an SRV service in a DNS namespace).
        // Elsewhere it is only an attribute, and 0 stays accepted.
        let port_used = service
            .dns
            .as_ref()
            .is_some_and(|dns| dns.has(RecordType::Srv))
            || matches!(service.health, ServiceHealth::Probed(_));
        if port_used && usable_port(port).is_none() {
            return Err(ApiError::invalid_input(
                "A valid port number must be supplied.",
            ));
        }
    }
    if let Some(status) = attributes.get(AWS_INIT_HEALTH_STATUS)
        && status != "HEALTHY"
        && status != "UNHEALTHY"
    {
        return Err(ApiError::invalid_input(format!(
            "{AWS_INIT_HEALTH_STATUS} must be HEALTHY or UNHEALTHY: {status}"
        )));
    }
    if has(AWS_EC2_INSTANCE_ID) {
        if namespace != NamespaceType::Http {
            return Err(ApiError::invalid_input(format!(
                "{AWS_EC2_INSTANCE_ID} is only supported in HTTP namespaces"
            )));
        }
        if attributes
            .keys()
            .any(|k| k != AWS_EC2_INSTANCE_ID && k != AWS_INIT_HEALTH_STATUS)
        {
            return Err(ApiError::invalid_input(format!(
                "With {AWS_EC2_INSTANCE_ID}, the only other attribute allowed is {AWS_INIT_HEALTH_STATUS}"
            )));
        }
        return Ok(());
    }
    if has(AWS_ALIAS_DNS_NAME) {
        let dns = service.dns.as_ref();
        // AWS's text for an alias in a service whose routing policy is not WEIGHTED
        // (kubernetes-sigs/external-dns#1174: a MULTIVALUE service). AWS's wording for the other
        // cases (no DnsConfig, or no A/AAAA record) has not been observed.
        if dns.is_some_and(|dns| dns.routing_policy != RoutingPolicy::Weighted) {
            return Err(ApiError::invalid_input(
                "ALIAS instance can be registered only in services with WEIGHTED routing policy",
            ));
        }
        let alias_ok = dns.is_some_and(|dns| {
            dns.routing_policy == RoutingPolicy::Weighted
                && (dns.has(RecordType::A) || dns.has(RecordType::Aaaa))
        });
        if !alias_ok {
            return Err(ApiError::invalid_input(format!(
                "{AWS_ALIAS_DNS_NAME} requires a service with A or AAAA records and the WEIGHTED routing policy"
            )));
        }
        if attributes.keys().any(|k| k.starts_with("AWS_INSTANCE_")) {
            return Err(ApiError::invalid_input(format!(
                "{AWS_ALIAS_DNS_NAME} can't be combined with AWS_INSTANCE_* attributes"
            )));
        }
        return Ok(());
    }
    if let Some(dns) = &service.dns {
        let (a, aaaa) = (dns.has(RecordType::A), dns.has(RecordType::Aaaa));
        if a && !aaaa && !has(AWS_INSTANCE_IPV4) {
            return Err(missing(AWS_INSTANCE_IPV4, "the service has an A record"));
        }
        if aaaa && !a && !has(AWS_INSTANCE_IPV6) {
            return Err(missing(AWS_INSTANCE_IPV6, "the service has an AAAA record"));
        }
        if a && aaaa && !has(AWS_INSTANCE_IPV4) && !has(AWS_INSTANCE_IPV6) {
            return Err(missing(
                "AWS_INSTANCE_IPV4 or AWS_INSTANCE_IPV6",
                "the service has A and AAAA records",
            ));
        }
        if dns.has(RecordType::Srv) {
            if !has(AWS_INSTANCE_PORT) {
                return Err(missing(AWS_INSTANCE_PORT, "the service has an SRV record"));
            }
            if !has(AWS_INSTANCE_IPV4) && !has(AWS_INSTANCE_IPV6) {
                return Err(missing(
                    "AWS_INSTANCE_IPV4 or AWS_INSTANCE_IPV6",
                    "the service has an SRV record",
                ));
            }
        }
        if dns.has(RecordType::Cname) && !has(AWS_INSTANCE_CNAME) {
            return Err(missing(
                AWS_INSTANCE_CNAME,
                "the service has a CNAME record",
            ));
        }
    }
    if matches!(service.health, ServiceHealth::Probed(_)) && !has(AWS_INSTANCE_PORT) {
        return Err(missing(
            AWS_INSTANCE_PORT,
            "the service has a HealthCheckConfig",
        ));
    }
    Ok(())
}
