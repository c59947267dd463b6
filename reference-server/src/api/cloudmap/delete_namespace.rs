//! `DeleteNamespace`: async (DELETE_NAMESPACE); `ResourceInUse` while the namespace has services.
//! Differs from AWS: the operation's Targets carry no `ROUTE_53_CHANGE_ID` (there is no Route 53).

use super::common::{Context, NewOperation, duplicate_request};
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::model::{Mutation, OperationType, Timestamp};

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::IdInput,
) -> Result<wire::OperationIdOutput, ApiError> {
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "id", &input.id);
    v.finish()?;
    let raw = input.id.unwrap_or_default();
    let id = ctx.namespace_id(&raw)?;
    let region = ctx.region.clone();
    let operations = ctx.state.operations.clone();
    let operation = ctx
        .state
        .store
        .write(move |registry| {
            if registry.namespace(&region, &id).is_none() {
                return Err(ApiError::namespace_not_found(&raw));
            }
            if let Some(pending) = registry.pending_on_namespace(&id) {
                return Err(duplicate_request(registry, pending));
            }
            if registry.service_count(&id) > 0 {
                // AWS's text, as the Go SDK printed it (anomalyco/sst#5931, #5678).
                return Err(ApiError::new(
                    "ResourceInUse",
                    "Namespace has associated services; delete the services before deleting the namespace",
                ));
            }
            let operation = NewOperation {
                kind: OperationType::DeleteNamespace,
                token: None,
                namespace_id: Some(id.clone()),
                service_id: None,
                instance_id: None,
                mutation: Mutation::DeleteNamespace { namespace_id: id },
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
