//! `GetOperation`. Finished operations are kept for `--operation-retention` (default a day;
//! AWS's retention is undocumented), across restarts; unfinished ones until they finish.

use super::common::Context;
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::model::OperationId;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::GetOperationInput,
) -> Result<wire::GetOperationOutput, ApiError> {
    let mut v = Validator::new();
    if let Some(id) = v.required("operationId", &input.operation_id) {
        v.length("operationId", id, 0, 255);
    }
    validate::owner_account(&mut v, input.owner_account.as_ref());
    v.finish()?;
    let raw = input.operation_id.unwrap_or_default();
    let not_found = || ApiError::new("OperationNotFound", format!("Operation not found: {raw}"));
    if ctx.foreign_owner(input.owner_account.as_ref()) {
        return Err(not_found());
    }
    let registry = ctx.state.store.read();
    let operation = registry
        .operation(&ctx.region, &OperationId(raw.clone()))
        .ok_or_else(not_found)?;
    Ok(wire::GetOperationOutput {
        operation: ctx.operation_to_wire(operation),
    })
}
