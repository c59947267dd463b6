//! The HTTP front door: `POST /` for the AWS JSON 1.1 APIs (routed on `X-Amz-Target`, on any
//! `Host`), `GET /health` for readiness, `GET /metrics` for Prometheus, and `POST /_reset` /
//! `GET /_state` for test suites (`admin.rs`). Only this layer knows the wire format.

pub mod admin;
pub mod cloudmap;
pub mod ecs;
pub mod error;
pub mod metrics;
pub mod protocol;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tracing::Instrument;

use crate::operations::OperationQueue;
use crate::store::Store;
use error::ApiError;
use metrics::{Metrics, Outcome};

/// Count quotas (spec §10): off unless configured, since an emulator's users load-test it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quotas {
    pub namespaces: Option<usize>,
    pub instances_per_service: Option<usize>,
    pub instances_per_namespace: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub account_id: String,
    pub default_region: String,
    /// Reject what real AWS rejects even where the Cloud Map docs we implement do otherwise.
    pub strict: bool,
    pub quotas: Quotas,
    pub max_body_bytes: usize,
    /// Whether `POST /_reset` may empty the server.
    pub allow_reset: bool,
}

/// What every request handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub config: ApiConfig,
    pub operations: OperationQueue,
    pub metrics: Arc<Metrics>,
    pub health: crate::health::HealthHandle,
    /// The ECS API's state and scheduler (absent in the copy ECS itself uses to call Cloud Map).
    pub ecs: Option<Arc<crate::ecs::Ecs>>,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", post(aws_json))
        .route("/health", get(health))
        .route("/metrics", get(metrics_endpoint))
        .route("/_reset", post(admin::reset))
        .route("/_state", get(admin::dump))
        .with_state(state)
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let sizes = state.store.read().sizes();
    let body = format!(
        "{{\"status\":\"ok\",\"namespaces\":{},\"services\":{},\"instances\":{}}}",
        sizes.namespaces, sizes.services, sizes.instances
    );
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn metrics_endpoint(State(state): State<Arc<AppState>>) -> Response {
    let sizes = state.store.read().sizes();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(sizes),
    )
        .into_response()
}

async fn aws_json(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let request_id = protocol::request_id();
    let (parts, body) = request.into_parts();
    let target = protocol::target(&parts.headers).map(|(p, o)| (p.to_owned(), o.to_owned()));
    let region = protocol::region(&parts.headers, &state.config.default_region);
    let operation = target
        .as_ref()
        .map_or("<none>", |(_, op)| op.as_str())
        .to_owned();
    let span = tracing::info_span!("request", id = %request_id, operation = %operation, region = %region.0);
    let result = async {
        let body = axum::body::to_bytes(body, state.config.max_body_bytes)
            .await
            .map_err(|_| {
                ApiError::invalid_input(format!(
                    "The request body is larger than {} bytes or could not be read",
                    state.config.max_body_bytes
                ))
            })?;
        let (prefix, name) = target.ok_or_else(|| {
            ApiError::new(
                "UnknownOperationException",
                "The X-Amz-Target header is missing or malformed",
            )
        })?;
        if prefix == ecs::TARGET_PREFIX
            && let Some(ecs_state) = &state.ecs
        {
            let op = ecs::Op::parse(&name).ok_or_else(|| {
                ApiError::new(
                    "UnknownOperationException",
                    format!("Unknown or unsupported ECS operation {name}"),
                )
            })?;
            return ecs::dispatch(op, ecs_state, region, &body).await;
        }
        if prefix != protocol::CLOUDMAP_TARGET_PREFIX {
            return Err(ApiError::new(
                "UnknownOperationException",
                format!("Unknown target {prefix}.{name}"),
            ));
        }
        let op = cloudmap::Op::parse(&name).ok_or_else(|| {
            ApiError::new(
                "UnknownOperationException",
                format!("Unknown operation {name}"),
            )
        })?;
        let ctx = cloudmap::common::Context {
            state: &state,
            region,
        };
        cloudmap::dispatch(op, &ctx, &body).await
    }
    .instrument(span.clone())
    .await;
    let elapsed = started.elapsed();
    let mut response = match result {
        Ok(bytes) => {
            state.metrics.record(&operation, Outcome::Ok, elapsed);
            span.in_scope(|| tracing::debug!(micros = elapsed.as_micros() as u64, "ok"));
            let mut response = Response::new(Body::from(bytes));
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static(protocol::CONTENT_TYPE),
            );
            response
        }
        Err(error) => {
            let outcome = if error.status == StatusCode::INTERNAL_SERVER_ERROR {
                span.in_scope(|| tracing::error!(code = error.code, message = %error.message, "request failed"));
                Outcome::ServerError
            } else {
                span.in_scope(|| tracing::debug!(code = error.code, message = %error.message, "request rejected"));
                Outcome::ClientError
            };
            state.metrics.record(&operation, outcome, elapsed);
            error.into_response()
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-RequestId", value);
    }
    response
}

/// The operation names the metrics know, for all APIs served.
pub fn operation_names() -> Vec<&'static str> {
    cloudmap::Op::ALL
        .iter()
        .map(|op| op.name())
        .chain(ecs::Op::ALL.iter().map(|op| op.name()))
        .collect()
}
