//! `DeregisterInstance` (async, DEREGISTER_INSTANCE). Differs from AWS: none known.

use super::common::{Context, NewOperation, duplicate_request};
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::model::{Mutation, OperationType, Timestamp};

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::InstanceRefInput,
) -> Result<wire::OperationIdOutput, ApiError> {
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "serviceId", &input.service_id);
    if let Some(id) = v.required("instanceId", &input.instance_id) {
        v.length("instanceId", id, 0, 64);
    }
    v.finish()?;
    let raw = input.service_id.unwrap_or_default();
    let service_id = ctx.service_id(&raw)?;
    let instance_id = input.instance_id.unwrap_or_default();
    let region = ctx.region.clone();
    let operations = ctx.state.operations.clone();
    let operation = ctx
        .state
        .store
        .write(move |registry| {
            registry
                .service(&region, &service_id)
                .ok_or_else(|| ApiError::service_not_found(&raw))?;
            if let Some(pending) = registry.pending_on_instance(&service_id, &instance_id) {
                return Err(duplicate_request(registry, pending));
            }
            if registry.instance(&service_id, &instance_id).is_none() {
                return Err(ApiError::instance_not_found(&instance_id));
            }
            let operation = NewOperation {
                kind: OperationType::DeregisterInstance,
                token: None,
                namespace_id: None,
                service_id: Some(service_id.clone()),
                instance_id: Some(instance_id.clone()),
                mutation: Mutation::DeregisterInstance {
                    service_id,
                    instance_id,
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
