//! `GetInstancesHealthStatus`: every instance (paginated in id order) or the listed ones; a
//! service without health checking reports `UNKNOWN` (spec U4). Differs from AWS: none known.

use super::common::{Context, decode_token, encode_token};
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::GetInstancesHealthStatusInput,
) -> Result<wire::GetInstancesHealthStatusOutput, ApiError> {
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "serviceId", &input.service_id);
    let limit = validate::max_results(&mut v, input.max_results, 100);
    validate::next_token(&mut v, input.next_token.as_ref());
    if let Some(ids) = &input.instances {
        v.list_size("instances", ids, 1, usize::MAX);
        for id in ids {
            v.length("instances.member", id, 0, 64);
        }
    }
    v.finish()?;
    let raw = input.service_id.unwrap_or_default();
    let service_id = ctx.service_id(&raw)?;
    let after = input.next_token.as_deref().map(decode_token).transpose()?;
    let registry = ctx.state.store.read();
    registry
        .service(&ctx.region, &service_id)
        .ok_or_else(|| ApiError::service_not_found(&raw))?;
    let mut status = wire::Map::new();
    let next_token = match input.instances {
        Some(mut ids) => {
            ids.sort();
            ids.dedup();
            let mut page: Vec<&String> = ids
                .iter()
                .filter(|id| after.as_ref().is_none_or(|a| *id > a))
                .collect();
            let next = (page.len() > limit)
                .then(|| page.get(limit - 1).map(|id| encode_token(id)))
                .flatten();
            page.truncate(limit);
            for id in page {
                let instance = registry
                    .instance(&service_id, id)
                    .ok_or_else(|| ApiError::instance_not_found(id))?;
                status.insert(id.clone(), instance.health.as_str().to_owned());
            }
            next
        }
        None => {
            let mut page: Vec<_> = registry
                .instances_after(&service_id, after.as_deref())
                .take(limit + 1)
                .collect();
            let next = (page.len() > limit)
                .then(|| page.get(limit - 1).map(|i| encode_token(&i.id)))
                .flatten();
            page.truncate(limit);
            for instance in page {
                status.insert(instance.id.clone(), instance.health.as_str().to_owned());
            }
            next
        }
    };
    Ok(wire::GetInstancesHealthStatusOutput { status, next_token })
}
