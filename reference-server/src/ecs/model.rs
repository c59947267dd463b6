//! ECS entities as stored and as answered: clusters, task definitions, services (with their
//! deployments) and tasks.
//!
//! Unlike the Cloud Map model, these types derive serde: ECS echoes back dozens of task-definition
//! members verbatim (log configuration, mount points, ulimits, …) that this server accepts without
//! interpreting, so an entity is kept as the JSON document ECS would return (`wire`), beside the
//! scheduler's own bookkeeping (`state`), which never leaves the server. Timestamps are epoch
//! seconds, as the ECS API writes them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const ACTIVE: &str = "ACTIVE";
pub const INACTIVE: &str = "INACTIVE";
pub const DRAINING: &str = "DRAINING";

/// Task states, in lifecycle order (ECS task lifecycle: PROVISIONING → PENDING → ACTIVATING →
/// RUNNING → DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED).
pub mod status {
    pub const PROVISIONING: &str = "PROVISIONING";
    pub const PENDING: &str = "PENDING";
    pub const ACTIVATING: &str = "ACTIVATING";
    pub const RUNNING: &str = "RUNNING";
    pub const DEACTIVATING: &str = "DEACTIVATING";
    pub const STOPPING: &str = "STOPPING";
    pub const DEPROVISIONING: &str = "DEPROVISIONING";
    pub const STOPPED: &str = "STOPPED";
}

/// Seconds since the epoch with millisecond precision.
pub fn now() -> f64 {
    crate::model::Timestamp::now().as_epoch_seconds()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub cluster_arn: String,
    pub cluster_name: String,
    pub status: String,
    #[serde(default)]
    pub settings: Vec<Value>,
    #[serde(default)]
    pub configuration: Option<Value>,
    #[serde(default)]
    pub capacity_providers: Vec<String>,
    #[serde(default)]
    pub default_capacity_provider_strategy: Vec<Value>,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyValuePair {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub container_port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
    #[serde(default = "tcp")]
    pub protocol: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn tcp() -> String {
    "tcp".to_owned()
}

/// A container health check. Seconds; ECS's defaults are 30/5/3/0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    pub command: Vec<String>,
    #[serde(default = "default_interval")]
    pub interval: u32,
    #[serde(default = "default_timeout")]
    pub timeout: u32,
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<u32>,
}

fn default_interval() -> u32 {
    30
}
fn default_timeout() -> u32 {
    5
}
fn default_retries() -> u32 {
    3
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinition {
    pub name: String,
    pub image: String,
    #[serde(default)]
    pub cpu: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i64>,
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
    #[serde(default = "yes")]
    pub essential: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub environment: Vec<KeyValuePair>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Seconds between SIGTERM and SIGKILL when the task stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u32>,
    /// Everything else ECS accepts and echoes (`mountPoints`, `logConfiguration`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn yes() -> bool {
    true
}

impl ContainerDefinition {
    /// `linuxParameters.initProcessEnabled`: run an init process (Docker's `--init`) as PID 1.
    pub fn init_process_enabled(&self) -> bool {
        self.extra
            .get("linuxParameters")
            .and_then(|p| p.get("initProcessEnabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    pub task_definition_arn: String,
    pub family: String,
    pub revision: u32,
    pub container_definitions: Vec<ContainerDefinition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(default)]
    pub requires_compatibilities: Vec<String>,
    #[serde(default)]
    pub compatibilities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    pub status: String,
    pub registered_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregistered_at: Option<f64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl TaskDefinition {
    /// The network mode in effect: ECS's default is `bridge` on EC2 (FARGATE requires awsvpc).
    pub fn network_mode(&self) -> &str {
        self.network_mode.as_deref().unwrap_or("bridge")
    }

    pub fn container(&self, name: &str) -> Option<&ContainerDefinition> {
        self.container_definitions.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRegistry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfiguration {
    #[serde(default = "two_hundred")]
    pub maximum_percent: u32,
    #[serde(default = "one_hundred")]
    pub minimum_healthy_percent: u32,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn two_hundred() -> u32 {
    200
}
fn one_hundred() -> u32 {
    100
}

impl Default for DeploymentConfiguration {
    fn default() -> Self {
        DeploymentConfiguration {
            maximum_percent: 200,
            minimum_healthy_percent: 100,
            extra: Map::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: String,
    /// PRIMARY (the newest), ACTIVE (older ones still draining) or INACTIVE.
    pub status: String,
    pub task_definition: String,
    pub desired_count: u32,
    #[serde(default)]
    pub pending_count: u32,
    #[serde(default)]
    pub running_count: u32,
    #[serde(default)]
    pub failed_tasks: u32,
    pub created_at: f64,
    pub updated_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<Value>,
    pub rollout_state: String,
    pub rollout_state_reason: String,
    /// Not an ECS member: the registries this deployment's tasks register with (a change of
    /// `serviceRegistries` is a new deployment). Removed from answers.
    #[serde(default)]
    pub service_registries: Vec<ServiceRegistry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEvent {
    pub id: String,
    pub created_at: f64,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsService {
    pub service_arn: String,
    pub service_name: String,
    pub cluster_arn: String,
    pub status: String,
    pub task_definition: String,
    pub desired_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    #[serde(default)]
    pub service_registries: Vec<ServiceRegistry>,
    #[serde(default)]
    pub load_balancers: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<Value>,
    #[serde(default)]
    pub deployment_configuration: DeploymentConfiguration,
    #[serde(default)]
    pub deployments: Vec<Deployment>,
    #[serde(default)]
    pub events: Vec<ServiceEvent>,
    pub created_at: f64,
    pub scheduling_strategy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_grace_period_seconds: Option<u32>,
    /// ECS spells it `enableECSManagedTags`.
    #[serde(
        default,
        rename = "enableECSManagedTags",
        alias = "enableEcsManagedTags"
    )]
    pub enable_ecs_managed_tags: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<String>,
    #[serde(default)]
    pub placement_constraints: Vec<Value>,
    #[serde(default)]
    pub placement_strategy: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub enable_execute_command: bool,
    /// Scheduler bookkeeping, never answered: consecutive task failures (launch backoff) and when
    /// the next launch may happen.
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default)]
    pub next_launch_at: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkBinding {
    /// ECS spells it `bindIP`.
    #[serde(rename = "bindIP", alias = "bindIp")]
    pub bind_ip: String,
    pub container_port: u16,
    pub host_port: u16,
    pub protocol: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub container_arn: String,
    pub task_arn: String,
    pub name: String,
    pub image: String,
    pub last_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub network_bindings: Vec<NetworkBinding>,
    #[serde(default)]
    pub network_interfaces: Vec<Value>,
    pub health_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_id: Option<String>,
    pub cpu: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub task_arn: String,
    pub cluster_arn: String,
    pub task_definition_arn: String,
    pub group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    pub last_status: String,
    pub desired_status: String,
    pub health_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    pub containers: Vec<Container>,
    #[serde(default)]
    pub attachments: Vec<Value>,
    pub availability_zone: String,
    pub created_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    pub version: u64,
    #[serde(default)]
    pub overrides: Value,
}

impl Task {
    /// The id part of the ARN (`arn:…:task/<cluster>/<id>`), which is the Cloud Map instance id.
    pub fn id(&self) -> &str {
        task_id(&self.task_arn)
    }

    pub fn is_stopped(&self) -> bool {
        self.last_status == status::STOPPED
    }

    /// Asks the task to stop (its driver does the rest): desired STOPPED, with ECS's stop code
    /// and reason, as a new version.
    pub fn request_stop(&mut self, code: &str, reason: String) {
        self.desired_status = status::STOPPED.to_owned();
        self.stop_code = Some(code.to_owned());
        self.stopped_reason = Some(reason);
        self.version += 1;
    }

    pub fn private_ipv4(&self) -> Option<&str> {
        self.attachments
            .iter()
            .filter_map(|a| a.get("details")?.as_array())
            .flatten()
            .find(|d| d.get("name").and_then(Value::as_str) == Some("privateIPv4Address"))
            .and_then(|d| d.get("value")?.as_str())
    }
}

pub fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or(task_arn)
}

/// The Cloud Map instance a task is registered as (or is to be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    pub service_id: String,
    pub region: String,
    /// Whether `RegisterInstance` succeeded (then deregistration is owed).
    pub registered: bool,
    /// The custom health status last sent, if the service has custom health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_health: Option<String>,
    pub custom_health: bool,
}

/// What the scheduler and the task driver remember of a task.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<ServiceRegistry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<Registration>,
    /// The runtime's own handle for the task (container ids, pod name …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_handle: Option<String>,
    /// The address the task registers with (its own, or the host's on the cluster network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    /// Whether the stop counts as a failure of the service (launch backoff).
    #[serde(default)]
    pub failed: bool,
    /// When the task became HEALTHY (or RUNNING without health checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_at: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRecord {
    pub wire: Task,
    pub state: TaskState,
}
