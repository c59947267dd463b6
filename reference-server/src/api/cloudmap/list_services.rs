//! `ListServices` with the NAMESPACE_ID (id or ARN) and RESOURCE_OWNER filters, paginated in
//! creation order; filters are applied before paginating. Differs from AWS: none known.

use super::common::{Context, dated_key, encode_token, parse_dated_key};
use super::filters::{Condition, FilterSpec, parse_filters};
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::model::Service;

const SPECS: &[FilterSpec] = &[
    FilterSpec {
        name: "NAMESPACE_ID",
        conditions: &[Condition::Eq],
    },
    FilterSpec {
        name: "RESOURCE_OWNER",
        conditions: &[Condition::Eq],
    },
];

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::ListInput,
) -> Result<wire::ListServicesOutput, ApiError> {
    let mut v = Validator::new();
    let limit = validate::max_results(&mut v, input.max_results, 100);
    validate::next_token(&mut v, input.next_token.as_ref());
    let filters = parse_filters(&mut v, input.filters.as_deref().unwrap_or_default(), SPECS);
    for filter in filters.iter().filter(|f| f.name == "RESOURCE_OWNER") {
        for value in &filter.values {
            v.one_of(
                "filters.member.values.member",
                value,
                |s| ["SELF", "OTHER_ACCOUNTS"].contains(&s).then_some(()),
                &["SELF", "OTHER_ACCOUNTS"],
            );
        }
    }
    v.finish()?;
    let after = input
        .next_token
        .as_deref()
        .map(parse_dated_key)
        .transpose()?;
    // A namespace ARN from elsewhere matches nothing, like an unknown id.
    let namespace_filter: Vec<Option<String>> = filters
        .iter()
        .filter(|f| f.name == "NAMESPACE_ID")
        .map(|f| {
            f.values
                .first()
                .and_then(|raw| ctx.namespace_id(raw).ok())
                .map(|id| id.0)
        })
        .collect();
    let owner_ok = filters
        .iter()
        .filter(|f| f.name == "RESOURCE_OWNER")
        .all(|f| f.matches("SELF"));
    let registry = ctx.state.store.read();
    let mut services: Vec<&Service> = registry
        .services(&ctx.region)
        .filter(|_| owner_ok)
        .filter(|s| {
            namespace_filter
                .iter()
                .all(|ns| ns.as_deref() == Some(s.namespace_id.as_str()))
        })
        .filter(|s| {
            after
                .as_ref()
                .is_none_or(|(date, id)| (s.create_date, s.id.as_str()) > (*date, id.as_str()))
        })
        .collect();
    services.sort_by(|a, b| (a.create_date, &a.id).cmp(&(b.create_date, &b.id)));
    let next_token = (services.len() > limit)
        .then(|| {
            services
                .get(limit - 1)
                .map(|s| encode_token(&dated_key(s.create_date, s.id.as_str())))
        })
        .flatten();
    services.truncate(limit);
    Ok(wire::ListServicesOutput {
        services: services
            .into_iter()
            .map(|s| ctx.service_to_wire(s, registry.instance_count_of(&s.id), true))
            .collect(),
        next_token,
    })
}
