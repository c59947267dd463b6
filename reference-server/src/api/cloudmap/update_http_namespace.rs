//! `UpdateHttpNamespace`: changes the description (required). Async, UPDATE_NAMESPACE.
//! Differs from AWS: none known.

use super::common::Context;
use super::update_namespace::{self, Update};
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::model::NamespaceType;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::UpdateHttpNamespaceInput,
) -> Result<wire::OperationIdOutput, ApiError> {
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "id", &input.id);
    validate::request_token(
        &mut v,
        "updaterRequestId",
        input.updater_request_id.as_ref(),
    );
    let mut description = None;
    if let Some(change) = v.required("namespace", &input.namespace)
        && let Some(text) = v.required("namespace.description", &change.description)
    {
        validate::description(&mut v, "namespace.description", Some(text));
        description = Some(text.clone());
    }
    v.finish()?;
    update_namespace::submit(
        ctx,
        Update {
            raw_id: input.id.unwrap_or_default(),
            kind: NamespaceType::Http,
            token: super::common::idempotency_token(input.updater_request_id),
            description,
            soa_ttl: None,
        },
    )
    .await
}
