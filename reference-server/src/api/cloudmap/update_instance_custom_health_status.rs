//! `UpdateInstanceCustomHealthStatus`: sets the status of an instance of a service with
//! `HealthCheckCustomConfig`; `CustomHealthNotFound` for any other service.
//! Differs from AWS: the change is effective at once by default (AWS waits about 30 s);
//! `--custom-health-delay 30s` restores the wait, handled by the health checker.

use super::common::Context;
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::model::{HealthStatus, ServiceHealth};
use crate::store::Change;

pub async fn handle(
    ctx: &Context<'_>,
    input: wire::UpdateInstanceCustomHealthStatusInput,
) -> Result<wire::Empty, ApiError> {
    let mut v = Validator::new();
    validate::arn_or_id(&mut v, "serviceId", &input.service_id);
    if let Some(id) = v.required("instanceId", &input.instance_id) {
        v.length("instanceId", id, 0, 64);
    }
    let status = v.required("status", &input.status).and_then(|status| {
        v.one_of(
            "status",
            status,
            |s| HealthStatus::parse(s).filter(|s| *s != HealthStatus::Unknown),
            &["HEALTHY", "UNHEALTHY"],
        )
    });
    v.finish()?;
    let status = status.unwrap_or(HealthStatus::Healthy);
    let raw = input.service_id.unwrap_or_default();
    let service_id = ctx.service_id(&raw)?;
    let instance_id = input.instance_id.unwrap_or_default();
    let region = ctx.region.clone();
    let delay = ctx.state.health.custom_delay();
    let health = ctx.state.health.clone();
    ctx.state
        .store
        .write(move |registry| {
            let service = registry
                .service(&region, &service_id)
                .ok_or_else(|| ApiError::service_not_found(&raw))?;
            let mut instance = registry
                .instance(&service_id, &instance_id)
                .ok_or_else(|| ApiError::instance_not_found(&instance_id))?
                .clone();
            if service.health != ServiceHealth::Custom {
                return Err(ApiError::new(
                    "CustomHealthNotFound",
                    format!("Service {service_id} does not have a HealthCheckCustomConfig"),
                ));
            }
            if !delay.is_zero() {
                // Checked now, effective later: the health checker applies it after the delay.
                health.custom(service_id.clone(), instance_id.clone(), status);
                return Ok(((), Vec::new()));
            }
            if instance.health == status {
                return Ok(((), Vec::new()));
            }
            tracing::info!(
                service = %service_id, instance = %instance_id,
                from = instance.health.as_str(), to = status.as_str(),
                reason = "UpdateInstanceCustomHealthStatus", "instance health changed"
            );
            instance.health = status;
            Ok(((), vec![Change::PutInstance(instance)]))
        })
        .await?;
    Ok(wire::Empty {})
}
