//! `UpdateService` (async, UPDATE_SERVICE): description, record TTLs and the active health check.
//! Omitting `HealthCheckConfig` removes an existing one; `HealthCheckCustomConfig` is never
//! changed (spec §5.4). Record types can't change.
//!
//! Differs from AWS: omitting `DnsConfig` leaves the records as they are (AWS documents that
//! omission deletes them, which would change the record types it forbids changing; UNCONFIRMED);
//! `HealthCheckConfig` in a private DNS namespace is accepted unless `--strict`.

use super::common::{Context, NewOperation};
use super::service_config;
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::model::{Mutation, NamespaceType, OperationType, RecordType, ServiceHealth, Timestamp};

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::UpdateServiceInput,
) -> Result<wire::OperationIdOutput, ApiError> {
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "id", &input.id);
    let mut records = None;
    let mut health_check = None;
    let mut description = None;
    if let Some(change) = v.required("service", &input.service) {
        validate::description(&mut v, "service.description", change.description.as_ref());
        description = change.description.clone();
        if let Some(dns) = &change.dns_config
            && let Some(list) = v.required("service.dnsConfig.dnsRecords", &dns.dns_records)
        {
            records = Some(service_config::dns_records(
                &mut v,
                "service.dnsConfig.dnsRecords",
                list,
            ));
        }
        if let Some(config) = &change.health_check_config {
            health_check =
                service_config::health_check(&mut v, "service.healthCheckConfig", config);
        }
    }
    v.finish()?;
    let raw = input.id.unwrap_or_default();
    let id = ctx.service_id(&raw)?;
    let region = ctx.region.clone();
    let strict = ctx.state.config.strict;
    let operations = ctx.state.operations.clone();
    let operation = ctx
        .state
        .store
        .write(move |registry| {
            let service = registry.service(&region, &id).ok_or_else(|| ApiError::service_not_found(&raw))?;
            let namespace = registry.namespace(&region, &service.namespace_id);
            let namespace_kind = namespace.map(|ns| ns.kind);
            if namespace_kind == Some(NamespaceType::Http) {
                return Err(ApiError::invalid_input("Services in HTTP namespaces can't be updated"));
            }
            if let Some(pending) = registry.pending_on_service(&id) {
                return Err(ApiError::duplicate_request(pending.id.as_str()));
            }
            if let Some(records) = &records {
                let mut wanted: Vec<RecordType> = records.iter().map(|r| r.kind).collect();
                let mut current: Vec<RecordType> =
                    service.dns.as_ref().map(|dns| dns.records.iter().map(|r| r.kind).collect()).unwrap_or_default();
                wanted.sort();
                current.sort();
                if wanted != current {
                    return Err(ApiError::invalid_input(
                        "The record types of a service can't be changed; delete and recreate the service",
                    ));
                }
            }
            if health_check.is_some() {
                if service.health == ServiceHealth::Custom {
                    return Err(ApiError::invalid_input(
                        "A service with HealthCheckCustomConfig can't also have a HealthCheckConfig",
                    ));
                }
                if service.dns.as_ref().is_some_and(|dns| dns.has(RecordType::Cname)) {
                    return Err(ApiError::invalid_input("A service with a CNAME record can't have a HealthCheckConfig"));
                }
                if strict && namespace_kind == Some(NamespaceType::DnsPrivate) {
                    return Err(ApiError::invalid_input(
                        "HealthCheckConfig is not supported for services in private DNS namespaces",
                    ));
                }
            }
            let operation = NewOperation {
                kind: OperationType::UpdateService,
                token: None,
                namespace_id: None,
                service_id: Some(id.clone()),
                instance_id: None,
                mutation: Mutation::UpdateService { service_id: id, description, dns_records: records, health_check },
            }
            .build(&region, Timestamp::now());
            let id = operation.id.clone();
            Ok((id, operations.accept(registry, operation)))
        })
        .await?;
    ctx.state.operations.submit(operation.clone());
    Ok(wire::OperationIdOutput {
        operation_id: operation.0,
    })
}
