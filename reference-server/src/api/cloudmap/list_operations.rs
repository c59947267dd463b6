//! `ListOperations` with NAMESPACE_ID, SERVICE_ID (EQ), STATUS, TYPE (EQ or IN) and UPDATE_DATE
//! (BETWEEN two epoch-second values) filters, paginated in creation order. `SUCCEED` is accepted
//! for SUCCESS (the API docs' spelling).

use super::common::{Context, dated_key, encode_token, parse_dated_key};
use super::filters::{Condition, FilterSpec, parse_filters};
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::model::{Operation, OperationId, OperationStatus, OperationType};

const SPECS: &[FilterSpec] = &[
    FilterSpec {
        name: "NAMESPACE_ID",
        conditions: &[Condition::Eq],
    },
    FilterSpec {
        name: "SERVICE_ID",
        conditions: &[Condition::Eq],
    },
    FilterSpec {
        name: "STATUS",
        conditions: &[Condition::Eq, Condition::In],
    },
    FilterSpec {
        name: "TYPE",
        conditions: &[Condition::Eq, Condition::In],
    },
    FilterSpec {
        name: "UPDATE_DATE",
        conditions: &[Condition::Between],
    },
];

fn epoch_millis(value: &str) -> Option<i64> {
    let seconds: f64 = value.trim().parse().ok()?;
    seconds
        .is_finite()
        .then(|| (seconds * 1000.0).round() as i64)
}

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::ListInput,
) -> Result<wire::ListOperationsOutput, ApiError> {
    let mut v = Validator::new();
    let limit = validate::max_results(&mut v, input.max_results, 100);
    validate::next_token(&mut v, input.next_token.as_ref());
    let filters = parse_filters(&mut v, input.filters.as_deref().unwrap_or_default(), SPECS);
    let mut statuses: Option<Vec<OperationStatus>> = None;
    let mut kinds: Option<Vec<OperationType>> = None;
    let mut namespace = None;
    let mut service = None;
    let mut window: Option<(i64, i64)> = None;
    let type_names: Vec<&str> = OperationType::ALL.iter().map(|t| t.as_str()).collect();
    for filter in &filters {
        let path = "filters.member.values.member";
        match filter.name {
            "STATUS" => {
                statuses = Some(
                    filter
                        .values
                        .iter()
                        .filter_map(|s| {
                            v.one_of(
                                path,
                                s,
                                OperationStatus::parse,
                                &["SUBMITTED", "PENDING", "SUCCESS", "FAIL"],
                            )
                        })
                        .collect(),
                );
            }
            "TYPE" => {
                kinds = Some(
                    filter
                        .values
                        .iter()
                        .filter_map(|s| v.one_of(path, s, OperationType::parse, &type_names))
                        .collect(),
                );
            }
            "NAMESPACE_ID" => namespace = filter.values.first().cloned(),
            "SERVICE_ID" => service = filter.values.first().cloned(),
            "UPDATE_DATE" => match (
                filter.values.first().and_then(|s| epoch_millis(s)),
                filter.values.get(1).and_then(|s| epoch_millis(s)),
            ) {
                (Some(start), Some(end)) => window = Some((start, end)),
                _ => v.rule("UPDATE_DATE values must be two epoch times in seconds, start first"),
            },
            _ => {}
        }
    }
    v.finish()?;
    let namespace = namespace.map(|raw| ctx.namespace_id(&raw).map(|id| id.0).unwrap_or(raw));
    let service = service.map(|raw| ctx.service_id(&raw).map(|id| id.0).unwrap_or(raw));
    let after = input
        .next_token
        .as_deref()
        .map(parse_dated_key)
        .transpose()?
        .map(|(date, id)| (date, OperationId(id)));
    let keep = |op: &Operation| {
        op.region == ctx.region
            && statuses.as_ref().is_none_or(|s| s.contains(&op.status))
            && kinds.as_ref().is_none_or(|k| k.contains(&op.kind))
            && namespace
                .as_ref()
                .is_none_or(|ns| op.namespace_id.as_ref().is_some_and(|id| &id.0 == ns))
            && service
                .as_ref()
                .is_none_or(|srv| op.service_id.as_ref().is_some_and(|id| &id.0 == srv))
            && window.is_none_or(|(start, end)| (start..=end).contains(&op.update_date.0))
    };
    let registry = ctx.state.store.read();
    let mut page: Vec<&Operation> = registry
        .operations_after(after.as_ref())
        .filter(|op| keep(op))
        .take(limit + 1)
        .collect();
    let next_token = (page.len() > limit)
        .then(|| {
            page.get(limit - 1)
                .map(|op| encode_token(&dated_key(op.create_date, op.id.as_str())))
        })
        .flatten();
    page.truncate(limit);
    Ok(wire::ListOperationsOutput {
        operations: page
            .into_iter()
            .map(|op| wire::OperationSummary {
                id: op.id.0.clone(),
                status: op.status.as_str().to_owned(),
            })
            .collect(),
        next_token,
    })
}
