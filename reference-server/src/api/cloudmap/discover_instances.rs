//! `DiscoverInstances` (data plane; SDKs send it to `data-<host>`, and we answer on any host).
//! QueryParameters (all must match), then the health filter, then OptionalParameters (kept only
//! if something still matches), then a random order truncated to MaxResults (spec §9). The order
//! of the first two is UNCONFIRMED on AWS; query parameters go first so that HEALTHY_OR_ELSE_ALL
//! fails open among the instances asked for. `UNKNOWN` (probed but not yet checked) counts as
//! healthy, as in DNS.
//! Differs from AWS: no request throttling.

use rand::seq::SliceRandom;

use super::common::Context;
use super::discover;
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::model::{HealthStatus, Instance, ServiceHealth};

#[derive(Clone, Copy, PartialEq)]
enum Filter {
    Healthy,
    Unhealthy,
    All,
    HealthyOrElseAll,
}

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::DiscoverInstancesInput,
) -> Result<wire::DiscoverInstancesOutput, ApiError> {
    let mut v = Validator::new();
    discover::validate_names(
        &mut v,
        &input.namespace_name,
        &input.service_name,
        input.owner_account.as_ref(),
    );
    let limit = match input.max_results {
        Some(n) if v.range("maxResults", n, 1, 1000) => usize::try_from(n).unwrap_or(100),
        Some(_) => 1,
        None => 100,
    };
    if let Some(query) = &input.query_parameters {
        validate::attribute_map(&mut v, "queryParameters", query);
    }
    if let Some(optional) = &input.optional_parameters {
        validate::attribute_map(&mut v, "optionalParameters", optional);
    }
    let filter = match &input.health_status {
        None => Some(Filter::Healthy),
        Some(text) => v.one_of(
            "healthStatus",
            text,
            |s| match s {
                "HEALTHY" => Some(Filter::Healthy),
                "UNHEALTHY" => Some(Filter::Unhealthy),
                "ALL" => Some(Filter::All),
                "HEALTHY_OR_ELSE_ALL" => Some(Filter::HealthyOrElseAll),
                _ => None,
            },
            &["HEALTHY", "UNHEALTHY", "ALL", "HEALTHY_OR_ELSE_ALL"],
        ),
    };
    v.finish()?;
    let filter = filter.unwrap_or(Filter::Healthy);
    let namespace_name = input.namespace_name.unwrap_or_default();
    let service_name = input.service_name.unwrap_or_default();
    let registry = ctx.state.store.read();
    let service = discover::find(
        ctx,
        &registry,
        &namespace_name,
        &service_name,
        input.owner_account.as_ref(),
    )?;
    let matches = |instance: &Instance, params: &wire::Map| {
        params
            .iter()
            .all(|(key, value)| instance.attribute(key) == Some(value.as_str()))
    };
    let all: Vec<&Instance> = registry
        .instances(&service.id)
        .filter(|i| {
            input
                .query_parameters
                .as_ref()
                .is_none_or(|query| matches(i, query))
        })
        .collect();
    let healthy = |i: &&Instance| i.health != HealthStatus::Unhealthy;
    // Without a health check the filter is ignored and every instance is returned (spec §9).
    let mut chosen: Vec<&Instance> = match (&service.health, filter) {
        (ServiceHealth::None, _) | (_, Filter::All) => all,
        (_, Filter::Healthy) => all.into_iter().filter(healthy).collect(),
        (_, Filter::Unhealthy) => all.into_iter().filter(|i| !healthy(i)).collect(),
        (_, Filter::HealthyOrElseAll) => {
            let healthy_ones: Vec<&Instance> = all.iter().copied().filter(healthy).collect();
            if healthy_ones.is_empty() {
                all
            } else {
                healthy_ones
            }
        }
    };
    if let Some(optional) = &input.optional_parameters {
        let narrowed: Vec<&Instance> = chosen
            .iter()
            .copied()
            .filter(|i| matches(i, optional))
            .collect();
        if !narrowed.is_empty() {
            chosen = narrowed;
        }
    }
    chosen.shuffle(&mut rand::rng());
    chosen.truncate(limit);
    let namespace_name = registry
        .namespace(&ctx.region, &service.namespace_id)
        .map_or(namespace_name, |ns| ns.http_name.clone());
    Ok(wire::DiscoverInstancesOutput {
        instances: chosen
            .into_iter()
            .map(|i| wire::HttpInstanceSummary {
                instance_id: i.id.clone(),
                namespace_name: namespace_name.clone(),
                service_name: service.name.clone(),
                health_status: i.health.as_str().to_owned(),
                attributes: i.attributes.clone(),
            })
            .collect(),
        instances_revision: service.instances_revision,
    })
}
