//! The two endpoints that are not AWS's, for test suites and debugging (no `X-Amz-Target`, so
//! they cannot collide with an AWS operation):
//! - `POST /_reset` empties the server — ECS first (its tasks stop the usual way: deregistered
//!   from Cloud Map, then their containers stopped and removed), then the whole Cloud Map registry
//!   (namespaces, services, instances, operations) in one durable commit. Refused unless the
//!   server runs with `--allow-reset`, so a shared server cannot be wiped by accident. It answers
//!   once everything is gone. (moto's equivalent is `POST /moto-api/reset`.)
//! - `GET /_state` dumps what the server holds as JSON, in the AWS shapes of GetNamespace,
//!   GetService, GetInstance (plus the instance's health) and GetOperation, per region, and the
//!   ECS clusters, services, tasks and task definitions as DescribeX answers them, and the owner
//!   label of the server's Docker containers and networks.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::cloudmap::common::Context;
use super::error::ApiError;
use crate::model::Region;

/// How long ECS tasks get to stop during a reset (their containers' stop timeouts included).
const RESET_DEADLINE: Duration = Duration::from_secs(120);

pub async fn reset(State(state): State<Arc<AppState>>) -> Response {
    match reset_all(&state).await {
        Ok(summary) => axum::Json(summary).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn reset_all(state: &AppState) -> Result<Value, ApiError> {
    if !state.config.allow_reset {
        let mut refused = ApiError::new(
            "AccessDeniedException",
            "POST /_reset is disabled: start the server with --allow-reset (CLOUDMAP_ALLOW_RESET=true) to allow it",
        );
        refused.status = StatusCode::FORBIDDEN;
        return Err(refused);
    }
    let tasks = match &state.ecs {
        Some(ecs) => ecs
            .reset(RESET_DEADLINE)
            .await
            .map_err(|e| ApiError::internal(format!("the ECS state was not reset: {e}")))?,
        None => 0,
    };
    let removed = state
        .store
        .write(|registry| {
            let changes = registry.clear();
            Ok::<_, Infallible>((changes.len(), changes))
        })
        .await
        .map_err(|_| ApiError::internal("the registry was not reset: the store failed"))?;
    tracing::info!(tasks, removed, "the server was reset (POST /_reset)");
    Ok(json!({"reset": true, "ecsTasksStopped": tasks, "registryEntriesRemoved": removed}))
}

pub async fn dump(State(state): State<Arc<AppState>>) -> Response {
    let mut regions: BTreeMap<String, Value> = BTreeMap::new();
    {
        let registry = state.store.read();
        let mut names: Vec<Region> = registry
            .all_namespaces()
            .map(|ns| ns.region.clone())
            .chain(registry.all_services().map(|s| s.region.clone()))
            .collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        names.dedup();
        for region in names {
            let ctx = Context {
                state: &state,
                region: region.clone(),
            };
            let namespaces: Vec<Value> = registry
                .namespaces(&region)
                .map(|ns| json!(ctx.namespace_to_wire(ns, registry.service_count(&ns.id), false)))
                .collect();
            let services: Vec<Value> = registry
                .services(&region)
                .map(|service| {
                    let instances: Vec<Value> = registry
                        .instances(&service.id)
                        .map(|instance| {
                            let mut wire = json!(ctx.instance_to_wire(instance, true));
                            wire["HealthStatus"] = json!(instance.health.as_str());
                            wire
                        })
                        .collect();
                    let mut wire = json!(ctx.service_to_wire(service, instances.len(), false));
                    wire["Instances"] = Value::Array(instances);
                    wire
                })
                .collect();
            let operations: Vec<Value> = registry
                .operations_after(None)
                .filter(|op| op.region == region)
                .map(|op| json!(ctx.operation_to_wire(op)))
                .collect();
            regions.insert(
                region.0.clone(),
                json!({"Namespaces": namespaces, "Services": services, "Operations": operations}),
            );
        }
    }
    let ecs = state.ecs.as_ref().map(|ecs| {
        ecs.store.read(|s| {
            json!({
                // The value of the `io.cloudmap-conformance.owner` label on this server's
                // containers and networks.
                "owner": s.owner,
                "clusters": s.clusters.values().collect::<Vec<_>>(),
                "services": s.services.values().collect::<Vec<_>>(),
                "tasks": s.tasks.values().map(|t| &t.wire).collect::<Vec<_>>(),
                "taskDefinitions": s.task_definitions.values().collect::<Vec<_>>(),
            })
        })
    });
    axum::Json(json!({"cloudMap": regions, "ecs": ecs})).into_response()
}
