//! ECS's side of Cloud Map (spec §11): checking `serviceRegistries` against the registry service
//! and the task definition (§11.1), building the instance ECS registers for a task (§11.2), and
//! registering, deregistering and reporting custom health through the Cloud Map operations
//! themselves — the same handlers, validation and operations a client goes through, as real ECS
//! calls the Cloud Map API.

use std::time::Duration;

use super::model::{ServiceRegistry, TaskDefinition};
use crate::api::AppState;
use crate::api::cloudmap::common::Context;
use crate::api::cloudmap::wire;
use crate::api::error::ApiError;
use crate::model::{OperationId, OperationStatus, RecordType, Region, ServiceHealth, ServiceId};

/// What ECS needs to know of a Cloud Map service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryService {
    pub id: String,
    pub name: String,
    pub custom_health: bool,
    pub records: Vec<RecordType>,
}

/// A Cloud Map client inside the server. It holds its own `AppState` (sharing the registry,
/// operation queue and health checker with the API's) so that ECS and the API never own each
/// other.
#[derive(Debug)]
pub struct CloudMap {
    state: AppState,
}

/// How long ECS waits for its own RegisterInstance/DeregisterInstance operations (AWS's take a
/// few seconds; ours are as slow as `--operation-delay`).
const OPERATION_DEADLINE: Duration = Duration::from_secs(120);

impl CloudMap {
    pub fn new(state: AppState) -> Self {
        CloudMap { state }
    }

    fn ctx(&self, region: &str) -> Context<'_> {
        Context {
            state: &self.state,
            region: Region(region.to_owned()),
        }
    }

    /// The service a `registryArn` names, in `region` of this account.
    pub fn service(&self, region: &str, registry_arn: &str) -> Result<RegistryService, String> {
        let prefix = format!(
            "arn:aws:servicediscovery:{region}:{}:service/",
            self.state.config.account_id
        );
        let id = registry_arn.strip_prefix(&prefix).ok_or_else(|| {
            format!("registryArn {registry_arn} is not a Cloud Map service ARN of this account in {region}")
        })?;
        let registry = self.state.store.read();
        let service = registry
            .service(&Region(region.to_owned()), &ServiceId(id.to_owned()))
            .ok_or_else(|| format!("Cloud Map service {id} does not exist ({registry_arn})"))?;
        Ok(RegistryService {
            id: id.to_owned(),
            name: service.name.clone(),
            custom_health: service.health == ServiceHealth::Custom,
            records: service
                .dns
                .as_ref()
                .map(|dns| dns.records.iter().map(|r| r.kind).collect())
                .unwrap_or_default(),
        })
    }

    /// Checks `serviceRegistries` of a service (spec §11.1); the message is ECS's
    /// `InvalidParameterException` text.
    pub fn validate(
        &self,
        region: &str,
        registries: &[ServiceRegistry],
        definition: &TaskDefinition,
    ) -> Result<(), String> {
        if registries.len() > 1 {
            return Err("A service can have at most one service registry (serviceRegistries has more than one element)".to_owned());
        }
        let Some(registry) = registries.first() else {
            return Ok(());
        };
        let arn = registry
            .registry_arn
            .as_deref()
            .ok_or("serviceRegistries[0].registryArn is required")?;
        let service = self.service(region, arn)?;
        if registry.container_name.is_some() != registry.container_port.is_some() {
            return Err(
                "containerName and containerPort must be given together in serviceRegistries"
                    .to_owned(),
            );
        }
        if let (Some(name), Some(port)) = (&registry.container_name, registry.container_port) {
            let container = definition.container(name).ok_or_else(|| {
                format!(
                    "The container {name} does not exist in the task definition {}",
                    definition.task_definition_arn
                )
            })?;
            if !container
                .port_mappings
                .iter()
                .any(|p| p.container_port == port)
            {
                return Err(format!(
                    "The container {name} does not have a port mapping for containerPort {port}"
                ));
            }
        }
        let srv = service.records.contains(&RecordType::Srv);
        match definition.network_mode() {
            "awsvpc" => {
                if registry.port.is_some() && registry.container_name.is_some() {
                    return Err("Specify either port or containerName and containerPort in serviceRegistries, not both".to_owned());
                }
                if srv && registry.port.is_none() && registry.container_name.is_none() {
                    return Err(format!(
                        "The Cloud Map service {} has SRV records: serviceRegistries needs port, or containerName and containerPort, for the awsvpc network mode",
                        service.id
                    ));
                }
            }
            mode @ ("bridge" | "host") => {
                if service.records.iter().any(|r| *r != RecordType::Srv) {
                    return Err(format!(
                        "The {mode} network mode supports only SRV records, but the Cloud Map service {} has other record types",
                        service.id
                    ));
                }
                if registry.container_name.is_none() {
                    return Err(format!(
                        "containerName and containerPort are required in serviceRegistries for the {mode} network mode"
                    ));
                }
            }
            other => {
                return Err(format!(
                    "Service discovery is not supported for the {other} network mode"
                ));
            }
        }
        Ok(())
    }

    pub async fn register(
        &self,
        region: &str,
        service_id: &str,
        instance_id: &str,
        attributes: wire::Map,
    ) -> Result<(), String> {
        let input = wire::RegisterInstanceInput {
            service_id: Some(service_id.to_owned()),
            instance_id: Some(instance_id.to_owned()),
            creator_request_id: None,
            attributes: Some(attributes),
        };
        let ctx = self.ctx(region);
        let output = crate::api::cloudmap::register_instance::handle(&ctx, input)
            .await
            .map_err(|e| e.to_string())?;
        self.wait(region, &output.operation_id).await
    }

    pub async fn deregister(
        &self,
        region: &str,
        service_id: &str,
        instance_id: &str,
    ) -> Result<(), String> {
        let input = wire::InstanceRefInput {
            service_id: Some(service_id.to_owned()),
            instance_id: Some(instance_id.to_owned()),
        };
        let ctx = self.ctx(region);
        match crate::api::cloudmap::deregister_instance::handle(&ctx, input).await {
            Ok(output) => self.wait(region, &output.operation_id).await,
            // Gone already (the user deregistered it, or deleted the service): nothing is owed.
            Err(e) if e.code == "InstanceNotFound" || e.code == "ServiceNotFound" => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    pub async fn set_health(
        &self,
        region: &str,
        service_id: &str,
        instance_id: &str,
        healthy: bool,
    ) -> Result<(), ApiError> {
        let input = wire::UpdateInstanceCustomHealthStatusInput {
            service_id: Some(service_id.to_owned()),
            instance_id: Some(instance_id.to_owned()),
            status: Some(if healthy { "HEALTHY" } else { "UNHEALTHY" }.to_owned()),
        };
        crate::api::cloudmap::update_instance_custom_health_status::handle(&self.ctx(region), input)
            .await
            .map(|_| ())
    }

    /// Waits for one of our operations to finish. The operations runner completes it in its own
    /// write; there is no completion feed, so this polls the registry (cheap: a read lock).
    async fn wait(&self, region: &str, operation_id: &str) -> Result<(), String> {
        let region = Region(region.to_owned());
        let id = OperationId(operation_id.to_owned());
        let deadline = tokio::time::Instant::now() + OPERATION_DEADLINE;
        let mut pause = Duration::from_millis(1);
        loop {
            let status = {
                let registry = self.state.store.read();
                registry
                    .operation(&region, &id)
                    .map(|op| (op.status, op.error_message.clone()))
            };
            match status {
                Some((OperationStatus::Success, _)) => return Ok(()),
                Some((OperationStatus::Fail, message)) => {
                    return Err(format!(
                        "operation {operation_id} failed: {}",
                        message.unwrap_or_default()
                    ));
                }
                None => return Err(format!("operation {operation_id} disappeared")),
                Some(_) if tokio::time::Instant::now() >= deadline => {
                    return Err(format!(
                        "operation {operation_id} did not finish in {OPERATION_DEADLINE:?}"
                    ));
                }
                Some(_) => {}
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}
