//! `CreateService` (synchronous): the service's DNS records, routing policy and health checking.
//!
//! Differs from AWS, by design:
//! - `HealthCheckConfig` in a private DNS namespace is accepted (and probed) unless the server
//!   runs with `--strict`: the Cloud Map docs this project implements do exactly that, while
//!   AWS rejects it with `InvalidInput`.
//! - A `CreatorRequestId` replay (same token, same name) returns the existing service instead of
//!   `ServiceAlreadyExists` (spec U1).
//! - In a DNS namespace, a service with neither `DnsConfig` nor `Type` is an `HTTP` service (U7).

use super::common::Context;
use super::create_namespace::check_tag_quota;
use super::service_config;
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::model::{
    DnsConfig, NamespaceType, RecordType, RoutingPolicy, Service, ServiceHealth, ServiceId,
    ServiceType, Tags, Timestamp,
};
use crate::store::Change;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::CreateServiceInput,
) -> Result<wire::ServiceOutput, ApiError> {
    let mut v = Validator::new();
    if let Some(name) = v.required("name", &input.name) {
        validate::service_name(&mut v, "name", name);
    }
    v.optional_length("namespaceId", input.namespace_id.as_ref(), 0, 255);
    validate::request_token(
        &mut v,
        "creatorRequestId",
        input.creator_request_id.as_ref(),
    );
    validate::description(&mut v, "description", input.description.as_ref());
    let tags = input
        .tags
        .as_ref()
        .map(|tags| validate::tags(&mut v, "tags", tags))
        .unwrap_or_default();
    if let Some(kind) = &input.kind {
        v.one_of("type", kind, |k| (k == "HTTP").then_some(()), &["HTTP"]);
    }
    let mut dns = None;
    if let Some(config) = &input.dns_config {
        v.optional_length(
            "dnsConfig.namespaceId",
            config.namespace_id.as_ref(),
            0,
            255,
        );
        let policy = match &config.routing_policy {
            Some(policy) => v.one_of(
                "dnsConfig.routingPolicy",
                policy,
                RoutingPolicy::parse,
                &["MULTIVALUE", "WEIGHTED"],
            ),
            None => None,
        };
        if let Some(records) = v.required("dnsConfig.dnsRecords", &config.dns_records) {
            let records = service_config::dns_records(&mut v, "dnsConfig.dnsRecords", records);
            let cname = records.iter().any(|r| r.kind == RecordType::Cname);
            // Default routing policy (U3): MULTIVALUE; CNAME needs an explicit WEIGHTED.
            match (policy, cname) {
                (Some(RoutingPolicy::Multivalue) | None, true) => {
                    v.rule("A CNAME record requires the WEIGHTED routing policy");
                }
                (policy, _) => {
                    dns = Some(DnsConfig {
                        routing_policy: policy.unwrap_or(RoutingPolicy::Multivalue),
                        records,
                    });
                }
            }
        }
    }
    let health_check = input
        .health_check_config
        .as_ref()
        .and_then(|config| service_config::health_check(&mut v, "healthCheckConfig", config));
    if let Some(custom) = &input.health_check_custom_config
        && let Some(threshold) = custom.failure_threshold
    {
        v.range("healthCheckCustomConfig.failureThreshold", threshold, 1, 10);
    }
    v.finish()?;

    if input.health_check_config.is_some() && input.health_check_custom_config.is_some() {
        return Err(ApiError::invalid_input(
            "You can specify either HealthCheckConfig or HealthCheckCustomConfig, but not both",
        ));
    }
    if dns.as_ref().is_some_and(|dns| dns.has(RecordType::Cname)) && health_check.is_some() {
        return Err(ApiError::invalid_input(
            "A service with a CNAME record can't have a HealthCheckConfig",
        ));
    }
    if input.kind.is_some() && input.dns_config.is_some() {
        return Err(ApiError::invalid_input(
            "A service of Type HTTP can't have a DnsConfig",
        ));
    }
    let raw_namespace = match (
        &input.namespace_id,
        input
            .dns_config
            .as_ref()
            .and_then(|d| d.namespace_id.as_ref()),
    ) {
        (Some(top), Some(legacy)) if top != legacy => {
            return Err(ApiError::invalid_input(
                "NamespaceId and DnsConfig.NamespaceId name different namespaces",
            ));
        }
        (Some(id), _) | (None, Some(id)) => id.clone(),
        // AWS's text, as CloudFormation printed it for a service without NamespaceId
        // (awsdocs/aws-cloudformation-user-guide PR #463).
        (None, None) => {
            return Err(ApiError::invalid_input(
                "Service namespace id cannot be null",
            ));
        }
    };
    let name = input.name.unwrap_or_default();
    check_tag_quota(&name, tags.len())?;
    let namespace_id = ctx.namespace_id(&raw_namespace)?;
    let region = ctx.region.clone();
    let strict = ctx.state.config.strict;
    let account = ctx.account().to_owned();
    let token = super::common::idempotency_token(input.creator_request_id);
    let description = input.description;
    let service = ctx
        .state
        .store
        .write(move |registry| {
            let namespace = registry
                .namespace(&region, &namespace_id)
                .ok_or_else(|| ApiError::namespace_not_found(&raw_namespace))?;
            if let Some(pending) = registry.pending_on_namespace(&namespace_id)
                && pending.kind == crate::model::OperationType::DeleteNamespace
            {
                return Err(ApiError::namespace_not_found(&raw_namespace));
            }
            let is_dns = namespace.kind.is_dns();
            if !is_dns && dns.is_some() {
                // AWS's text, as the aws CLI and Terraform printed it (spec §14, observed:
                // hashicorp/terraform-provider-aws#7016).
                return Err(ApiError::invalid_input(
                    "When you specify an HTTP service, you can't include a DnsConfig element.",
                ));
            }
            if strict && namespace.kind == NamespaceType::DnsPrivate && health_check.is_some() {
                return Err(ApiError::invalid_input(
                    "HealthCheckConfig is not supported for services in private DNS namespaces",
                ));
            }
            let existing = registry
                .services_in_namespace(&namespace_id)
                .find(|service| {
                    if is_dns {
                        service.name.eq_ignore_ascii_case(&name)
                    } else {
                        service.name == name
                    }
                });
            if let Some(existing) = existing {
                if token.is_some() && existing.creator_request_id == token && existing.name == name
                {
                    return Ok((
                        (existing.clone(), registry.instance_count_of(&existing.id)),
                        Vec::new(),
                    ));
                }
                return Err(ApiError::new(
                    "ServiceAlreadyExists",
                    format!("Service {name} already exists"),
                )
                .with(
                    "CreatorRequestId",
                    existing.creator_request_id.clone().unwrap_or_default(),
                )
                .with("ServiceId", existing.id.as_str())
                .with(
                    "ServiceArn",
                    crate::model::arn(&region, &account, "service", existing.id.as_str()),
                ));
            }
            let kind = if dns.is_some() {
                ServiceType::DnsHttp
            } else {
                ServiceType::Http
            };
            let service = Service {
                id: ServiceId::generate(&mut rand::rng()),
                region: region.clone(),
                namespace_id: namespace_id.clone(),
                name,
                description,
                kind,
                dns,
                health: match (health_check, input.health_check_custom_config.is_some()) {
                    (Some(check), _) => ServiceHealth::Probed(check),
                    (None, true) => ServiceHealth::Custom,
                    (None, false) => ServiceHealth::None,
                },
                creator_request_id: token,
                create_date: Timestamp::now(),
                tags: tags.into_iter().collect::<Tags>(),
                attributes: Default::default(),
                instances_revision: 1,
            };
            Ok(((service.clone(), 0), vec![Change::PutService(service)]))
        })
        .await?;
    Ok(wire::ServiceOutput {
        service: ctx.service_to_wire(&service.0, service.1, false),
    })
}
