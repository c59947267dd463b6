//! What the three Update*Namespace operations share: the type check, idempotency through
//! `UpdaterRequestId`, one unfinished operation per namespace, and submitting UPDATE_NAMESPACE.

use super::common::{Context, NewOperation, duplicate_request};
use super::wire;
use crate::api::error::ApiError;
use crate::model::{Mutation, NamespaceType, OperationType, Timestamp};

pub struct Update {
    pub raw_id: String,
    pub kind: NamespaceType,
    pub token: Option<String>,
    pub description: Option<String>,
    pub soa_ttl: Option<i64>,
}

pub async fn submit(
    ctx: &Context<'_>,
    update: Update,
) -> Result<wire::OperationIdOutput, ApiError> {
    let id = ctx.namespace_id(&update.raw_id)?;
    let region = ctx.region.clone();
    let operations = ctx.state.operations.clone();
    let operation = ctx
        .state
        .store
        .write(move |registry| {
            let namespace = registry
                .namespace(&region, &id)
                .ok_or_else(|| ApiError::namespace_not_found(&update.raw_id))?;
            if let Some(token) = &update.token
                && let Some(previous) =
                    registry.operation_for_token(&region, OperationType::UpdateNamespace, token)
            {
                return if previous.namespace_id.as_ref() == Some(&id) {
                    Ok((previous.id.clone(), Vec::new()))
                } else {
                    Err(duplicate_request(registry, previous))
                };
            }
            if namespace.kind != update.kind {
                return Err(ApiError::invalid_input(format!(
                    "Namespace {} is of type {}, not {}",
                    namespace.id,
                    namespace.kind.as_str(),
                    update.kind.as_str()
                )));
            }
            if let Some(pending) = registry.pending_on_namespace(&id) {
                return Err(duplicate_request(registry, pending));
            }
            let operation = NewOperation {
                kind: OperationType::UpdateNamespace,
                token: update.token,
                namespace_id: Some(id.clone()),
                service_id: None,
                instance_id: None,
                mutation: Mutation::UpdateNamespace {
                    namespace_id: id,
                    description: update.description,
                    soa_ttl: update.soa_ttl,
                },
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

/// The members of UpdatePrivateDnsNamespace and UpdatePublicDnsNamespace.
pub async fn dns(
    ctx: &Context<'_>,
    input: wire::UpdateDnsNamespaceInput,
    kind: NamespaceType,
) -> Result<wire::OperationIdOutput, ApiError> {
    use super::validate::{self, Validator};
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "id", &input.id);
    validate::request_token(
        &mut v,
        "updaterRequestId",
        input.updater_request_id.as_ref(),
    );
    let mut soa_ttl = None;
    let mut description = None;
    if let Some(change) = v.required("namespace", &input.namespace) {
        validate::description(&mut v, "namespace.description", change.description.as_ref());
        description = change.description.clone();
        if let Some(properties) = &change.properties
            && let Some(dns) = v.required(
                "namespace.properties.dnsProperties",
                &properties.dns_properties,
            )
            && let Some(soa) = v.required("namespace.properties.dnsProperties.sOA", &dns.soa)
            && let Some(ttl) = v.required("namespace.properties.dnsProperties.sOA.tTL", &soa.ttl)
            && v.range(
                "namespace.properties.dnsProperties.sOA.tTL",
                *ttl,
                0,
                i64::from(i32::MAX),
            )
        {
            soa_ttl = Some(*ttl);
        }
    }
    v.finish()?;
    submit(
        ctx,
        Update {
            raw_id: input.id.unwrap_or_default(),
            kind,
            token: super::common::idempotency_token(input.updater_request_id),
            description,
            soa_ttl,
        },
    )
    .await
}
