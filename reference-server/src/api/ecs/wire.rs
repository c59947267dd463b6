//! ECS request documents (camelCase, AWS JSON 1.1). Responses are built as JSON documents from
//! the stored entities (`common.rs`). Members ECS accepts but this server does not interpret are
//! ignored by serde unless listed here.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ecs::model::{DeploymentConfiguration, ServiceRegistry, Tag};

/// A `serviceRegistries` element as sent: ports are checked (InvalidParameterException) rather
/// than failing the whole request's parse.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRegistryInput {
    pub registry_arn: Option<String>,
    pub port: Option<i64>,
    pub container_name: Option<String>,
    pub container_port: Option<i64>,
}

impl ServiceRegistryInput {
    pub fn check(&self) -> Result<ServiceRegistry, String> {
        let port = |member: &str, value: Option<i64>| {
            value
                .map(|v| {
                    u16::try_from(v).ok().filter(|p| *p > 0).ok_or_else(|| {
                        format!("serviceRegistries.{member} must be between 1 and 65535, got {v}")
                    })
                })
                .transpose()
        };
        Ok(ServiceRegistry {
            registry_arn: self.registry_arn.clone(),
            port: port("port", self.port)?,
            container_name: self.container_name.clone(),
            container_port: port("containerPort", self.container_port)?,
        })
    }
}

/// `deploymentConfiguration` as sent: either percentage may be left out (it keeps its current or
/// default value).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfigurationInput {
    pub maximum_percent: Option<u32>,
    pub minimum_healthy_percent: Option<u32>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DeploymentConfigurationInput {
    /// `base` with what this input sets.
    pub fn over(&self, base: &DeploymentConfiguration) -> DeploymentConfiguration {
        let mut merged = base.clone();
        if let Some(maximum) = self.maximum_percent {
            merged.maximum_percent = maximum;
        }
        if let Some(minimum) = self.minimum_healthy_percent {
            merged.minimum_healthy_percent = minimum;
        }
        merged.extra.extend(self.extra.clone());
        merged
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateClusterInput {
    pub cluster_name: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub settings: Option<Vec<Value>>,
    pub configuration: Option<Value>,
    pub capacity_providers: Option<Vec<String>>,
    pub default_capacity_provider_strategy: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeClustersInput {
    pub clusters: Option<Vec<String>>,
    pub include: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListInput {
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRefInput {
    pub cluster: Option<String>,
}

/// RegisterTaskDefinition: the known members are checked, the whole document is kept.
#[derive(Debug, Deserialize)]
pub struct RegisterTaskDefinitionInput {
    #[serde(flatten)]
    pub document: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeTaskDefinitionInput {
    pub task_definition: Option<String>,
    pub include: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTaskDefinitionsInput {
    pub family_prefix: Option<String>,
    pub status: Option<String>,
    pub sort: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTaskDefinitionFamiliesInput {
    pub family_prefix: Option<String>,
    pub status: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeregisterTaskDefinitionInput {
    pub task_definition: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateServiceInput {
    pub cluster: Option<String>,
    pub service_name: Option<String>,
    pub task_definition: Option<String>,
    pub desired_count: Option<i64>,
    pub launch_type: Option<String>,
    pub platform_version: Option<String>,
    pub service_registries: Option<Vec<ServiceRegistryInput>>,
    pub load_balancers: Option<Vec<Value>>,
    pub network_configuration: Option<Value>,
    pub deployment_configuration: Option<DeploymentConfigurationInput>,
    pub scheduling_strategy: Option<String>,
    pub health_check_grace_period_seconds: Option<i64>,
    #[serde(rename = "enableECSManagedTags")]
    pub enable_ecs_managed_tags: Option<bool>,
    pub propagate_tags: Option<String>,
    pub placement_constraints: Option<Vec<Value>>,
    pub placement_strategy: Option<Vec<Value>>,
    pub role: Option<String>,
    pub enable_execute_command: Option<bool>,
    pub client_token: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateServiceInput {
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub desired_count: Option<i64>,
    pub task_definition: Option<String>,
    pub force_new_deployment: Option<bool>,
    pub service_registries: Option<Vec<ServiceRegistryInput>>,
    pub load_balancers: Option<Vec<Value>>,
    pub network_configuration: Option<Value>,
    pub deployment_configuration: Option<DeploymentConfigurationInput>,
    pub health_check_grace_period_seconds: Option<i64>,
    pub platform_version: Option<String>,
    pub enable_execute_command: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeServicesInput {
    pub cluster: Option<String>,
    pub services: Option<Vec<String>>,
    pub include: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListServicesInput {
    pub cluster: Option<String>,
    pub launch_type: Option<String>,
    pub scheduling_strategy: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteServiceInput {
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub force: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunTaskInput {
    pub cluster: Option<String>,
    pub task_definition: Option<String>,
    pub count: Option<i64>,
    pub launch_type: Option<String>,
    pub network_configuration: Option<Value>,
    pub group: Option<String>,
    pub started_by: Option<String>,
    pub overrides: Option<Value>,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopTaskInput {
    pub cluster: Option<String>,
    pub task: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTasksInput {
    pub cluster: Option<String>,
    pub family: Option<String>,
    pub service_name: Option<String>,
    pub desired_status: Option<String>,
    pub started_by: Option<String>,
    pub launch_type: Option<String>,
    pub container_instance: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeTasksInput {
    pub cluster: Option<String>,
    pub tasks: Option<Vec<String>>,
    pub include: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagResourceInput {
    pub resource_arn: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UntagResourceInput {
    pub resource_arn: Option<String>,
    pub tag_keys: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceArnInput {
    pub resource_arn: Option<String>,
}
