//! Where ECS tasks actually run. The scheduler and task drivers (`ecs/`) speak only this trait;
//! `docker.rs` implements it on a Docker engine, `kubernetes/` as pods through the Kubernetes API,
//! and `Unavailable` when neither is reachable (tasks then stop with a `stoppedReason` saying
//! what is missing).
//!
//! Ownership: everything a runtime creates carries the server's owner label; `sweep` removes what
//! is labelled with our owner but belongs to no live task, so a crash never leaks containers
//! past the next start.

pub mod docker;
pub mod kubernetes;

use std::collections::HashSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::time::Duration;

use ipnet::IpNet;

use crate::ecs::model::{ContainerDefinition, HealthCheck, KeyValuePair};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the runtime could not do what was asked, in the words ECS uses for `stoppedReason`
/// (`CannotPullContainerError: …`, `ResourceInitializationError: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuntimeError(pub String);

/// The cluster a task runs in: its network is created on first use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClusterRef {
    pub region: String,
    pub name: String,
}

/// The network of a cluster as the runtime made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNetwork {
    /// Where the server must serve DNS for this cluster's tasks (the host's address on the
    /// cluster network, and the tasks' subnet, which may use forwarding); `None` when the tasks
    /// resolve through something else (Kubernetes: CoreDNS).
    pub dns: Option<DnsExposure>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsExposure {
    pub address: IpAddr,
    pub clients: IpNet,
}

#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub entry_point: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub environment: Vec<KeyValuePair>,
    /// (containerPort, hostPort, protocol); hostPort 0 = any free port (bridge mode).
    pub port_mappings: Vec<(u16, u16, String)>,
    pub essential: bool,
    pub health_check: Option<HealthCheck>,
    pub working_directory: Option<String>,
    pub user: Option<String>,
    pub memory_mib: Option<i64>,
    pub cpu_units: i64,
    pub stop_timeout: Duration,
    pub init_process: bool,
}

impl ContainerSpec {
    pub fn from_definition(definition: &ContainerDefinition, default_stop: Duration) -> Self {
        ContainerSpec {
            name: definition.name.clone(),
            image: definition.image.clone(),
            entry_point: definition.entry_point.clone(),
            command: definition.command.clone(),
            environment: definition.environment.clone(),
            port_mappings: definition
                .port_mappings
                .iter()
                .map(|p| {
                    (
                        p.container_port,
                        p.host_port.unwrap_or(0),
                        p.protocol.clone(),
                    )
                })
                .collect(),
            essential: definition.essential,
            health_check: definition.health_check.clone(),
            working_directory: definition.working_directory.clone(),
            user: definition.user.clone(),
            memory_mib: definition.memory,
            cpu_units: definition.cpu,
            stop_timeout: definition
                .stop_timeout
                .map_or(default_stop, |s| Duration::from_secs(u64::from(s))),
            init_process: definition.init_process_enabled(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// One address per task on the cluster network (ECS's ENI per task).
    Awsvpc,
    /// Containers on the cluster network, ports published on the host's cluster address.
    Bridge,
    /// The host's network namespace.
    Host,
}

impl NetworkMode {
    pub fn parse(mode: &str) -> Option<NetworkMode> {
        match mode {
            "awsvpc" => Some(NetworkMode::Awsvpc),
            "bridge" => Some(NetworkMode::Bridge),
            "host" => Some(NetworkMode::Host),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub cluster: ClusterRef,
    pub task_id: String,
    pub family: String,
    pub revision: u32,
    pub network_mode: NetworkMode,
    pub containers: Vec<ContainerSpec>,
    /// The nameserver the containers use (the server's DNS on the cluster network).
    pub dns_server: Option<IpAddr>,
    /// The ECS service the task belongs to, if any (labels).
    pub ecs_service: Option<String>,
    /// The name of the Cloud Map service the task registers with, if any (labels, and the
    /// Kubernetes headless Service in rewrite mode).
    pub discovery_service: Option<String>,
}

/// A port a container publishes on the host (bridge mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub container: String,
    pub container_port: u16,
    pub host_port: u16,
    pub protocol: String,
    pub host_ip: IpAddr,
}

/// What `start_task` made: enough to register the task and to find it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedTask {
    /// Opaque to ECS, kept in the task's state (container ids, pod name).
    pub handle: String,
    /// The task's address: its own (awsvpc) or the host's on the cluster network.
    pub ipv4: Option<Ipv4Addr>,
    pub bindings: Vec<Binding>,
    /// (container name, runtime id)
    pub runtime_ids: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerHealth {
    /// No health check defined.
    None,
    Starting,
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    Running,
    /// Created or restarting: not yet (or not any more) running.
    Pending,
    Exited {
        code: i64,
        reason: Option<String>,
    },
    /// The runtime no longer knows the container (removed behind our back).
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    pub name: String,
    pub state: ContainerState,
    pub health: ContainerHealth,
}

/// The runtime side of ECS: start, observe and stop tasks, and clean up after them.
pub trait TaskRuntime: Send + Sync + std::fmt::Debug {
    /// `Err` says what is missing ("no Docker engine at unix:///var/run/docker.sock: …").
    fn check(&self) -> BoxFuture<'_, Result<(), RuntimeError>>;

    /// Creates (or finds) the cluster's network.
    fn prepare_cluster<'a>(
        &'a self,
        cluster: &'a ClusterRef,
    ) -> BoxFuture<'a, Result<ClusterNetwork, RuntimeError>>;

    /// Removes the cluster's network (when the cluster is deleted or the server stops).
    fn remove_cluster<'a>(
        &'a self,
        cluster: &'a ClusterRef,
    ) -> BoxFuture<'a, Result<(), RuntimeError>>;

    /// Creates and starts every container of the task. On failure nothing is left behind.
    fn start_task<'a>(
        &'a self,
        spec: &'a TaskSpec,
    ) -> BoxFuture<'a, Result<StartedTask, RuntimeError>>;

    /// The state of each container of the task.
    fn inspect_task<'a>(
        &'a self,
        handle: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContainerStatus>, RuntimeError>>;

    /// Stops the task's containers (SIGTERM, then SIGKILL after each container's stop timeout)
    /// and removes them. Returns the final state of each container.
    fn stop_task<'a>(
        &'a self,
        handle: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContainerStatus>, RuntimeError>>;

    /// Removes everything labelled with our owner whose task id is not in `live`. Returns how
    /// many objects were removed.
    fn sweep<'a>(&'a self, live: &'a HashSet<String>)
    -> BoxFuture<'a, Result<usize, RuntimeError>>;
}

/// The runtime when none is reachable: every task stops with `reason`.
#[derive(Debug)]
pub struct Unavailable {
    pub reason: String,
}

impl Unavailable {
    fn error(&self) -> RuntimeError {
        RuntimeError(format!("ResourceInitializationError: {}", self.reason))
    }
}

impl TaskRuntime for Unavailable {
    fn check(&self) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move { Err(self.error()) })
    }
    fn prepare_cluster<'a>(
        &'a self,
        _: &'a ClusterRef,
    ) -> BoxFuture<'a, Result<ClusterNetwork, RuntimeError>> {
        Box::pin(async move { Err(self.error()) })
    }
    fn remove_cluster<'a>(&'a self, _: &'a ClusterRef) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move { Ok(()) })
    }
    fn start_task<'a>(
        &'a self,
        _: &'a TaskSpec,
    ) -> BoxFuture<'a, Result<StartedTask, RuntimeError>> {
        Box::pin(async move { Err(self.error()) })
    }
    fn inspect_task<'a>(
        &'a self,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContainerStatus>, RuntimeError>> {
        Box::pin(async move { Err(self.error()) })
    }
    fn stop_task<'a>(
        &'a self,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContainerStatus>, RuntimeError>> {
        Box::pin(async move { Ok(Vec::new()) })
    }
    fn sweep<'a>(&'a self, _: &'a HashSet<String>) -> BoxFuture<'a, Result<usize, RuntimeError>> {
        Box::pin(async move { Ok(0) })
    }
}
