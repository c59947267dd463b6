//! `ListNamespaces` with `Filters` (TYPE, NAME, HTTP_NAME, RESOURCE_OWNER) and pagination.
//! Filters are applied before paginating, so a page is never empty while more match (AWS may
//! return empty pages; clients must cope with both). `IN` is accepted for TYPE (older API).

use super::common::{Context, dated_key, encode_token, parse_dated_key};
use super::filters::{Condition, FilterSpec, parse_filters};
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::model::{Namespace, NamespaceType};

const SPECS: &[FilterSpec] = &[
    FilterSpec {
        name: "TYPE",
        conditions: &[Condition::Eq, Condition::In, Condition::BeginsWith],
    },
    FilterSpec {
        name: "NAME",
        conditions: &[Condition::Eq, Condition::BeginsWith],
    },
    FilterSpec {
        name: "HTTP_NAME",
        conditions: &[Condition::Eq, Condition::BeginsWith],
    },
    FilterSpec {
        name: "RESOURCE_OWNER",
        conditions: &[Condition::Eq],
    },
];

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::ListInput,
) -> Result<wire::ListNamespacesOutput, ApiError> {
    let mut v = Validator::new();
    let limit = validate::max_results(&mut v, input.max_results, 100);
    validate::next_token(&mut v, input.next_token.as_ref());
    let filters = parse_filters(&mut v, input.filters.as_deref().unwrap_or_default(), SPECS);
    for filter in &filters {
        match filter.name {
            "TYPE" if filter.condition != Condition::BeginsWith => {
                for value in &filter.values {
                    v.one_of(
                        "filters.member.values.member",
                        value,
                        NamespaceType::parse,
                        &["HTTP", "DNS_PUBLIC", "DNS_PRIVATE"],
                    );
                }
            }
            "RESOURCE_OWNER" => {
                for value in &filter.values {
                    v.one_of(
                        "filters.member.values.member",
                        value,
                        |s| ["SELF", "OTHER_ACCOUNTS"].contains(&s).then_some(()),
                        &["SELF", "OTHER_ACCOUNTS"],
                    );
                }
            }
            _ => {}
        }
    }
    v.finish()?;
    let after = input
        .next_token
        .as_deref()
        .map(parse_dated_key)
        .transpose()?;
    let matches = |ns: &Namespace| {
        filters.iter().all(|filter| match filter.name {
            "TYPE" => filter.matches(ns.kind.as_str()),
            "NAME" => filter.matches(&ns.name),
            "HTTP_NAME" => filter.matches(&ns.http_name),
            // Every namespace here belongs to this account: nothing is shared from others.
            "RESOURCE_OWNER" => filter.matches("SELF"),
            _ => true,
        })
    };
    let registry = ctx.state.store.read();
    let mut namespaces: Vec<&Namespace> = registry
        .namespaces(&ctx.region)
        .filter(|ns| {
            after
                .as_ref()
                .is_none_or(|(date, id)| (ns.create_date, ns.id.as_str()) > (*date, id.as_str()))
        })
        .filter(|ns| matches(ns))
        .collect();
    namespaces.sort_by(|a, b| (a.create_date, &a.id).cmp(&(b.create_date, &b.id)));
    let next_token = (namespaces.len() > limit)
        .then(|| {
            namespaces
                .get(limit - 1)
                .map(|ns| encode_token(&dated_key(ns.create_date, ns.id.as_str())))
        })
        .flatten();
    namespaces.truncate(limit);
    Ok(wire::ListNamespacesOutput {
        namespaces: namespaces
            .into_iter()
            .map(|ns| ctx.namespace_to_wire(ns, registry.service_count(&ns.id), true))
            .collect(),
        next_token,
    })
}
