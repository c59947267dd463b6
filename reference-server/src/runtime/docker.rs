//! ECS tasks as Docker containers (bollard over the engine's unix socket, `DOCKER_HOST` honoured).
//!
//! - One bridge network per cluster, `cloudmap-<owner>-<region>-<cluster>`, created on first use.
//! - `awsvpc`: the task's first essential container joins the cluster network and gets the task's
//!   own address; the other containers share its network namespace (`container:<id>`), as the
//!   containers of one ECS task share an ENI. (ECS uses a hidden pause container for this; using
//!   an essential container avoids needing a pause image that no registry here can provide, and
//!   the task stops anyway when an essential container exits.)
//! - `bridge`: every container joins the cluster network and publishes its port mappings on the
//!   host's address on that network (host port 0 = a free port), which is what gets registered.
//! - `host`: the host's network namespace; the host's cluster-network address is registered.
//! - Containers use the server's DNS on the cluster network's gateway as their nameserver.
//! - Every object carries `io.cloudmap-conformance.owner` (and the task id), so `sweep` removes
//!   exactly what a crashed run of this server left behind, and no other server's objects.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerStateStatusEnum, EndpointSettings, HealthConfig,
    HealthStatusEnum, HostConfig, Ipam, IpamConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::{
    Binding, BoxFuture, ClusterNetwork, ClusterRef, ContainerHealth, ContainerSpec, ContainerState,
    ContainerStatus, DnsExposure, NetworkMode, RuntimeError, StartedTask, TaskRuntime, TaskSpec,
};

const OWNER: &str = "io.cloudmap-conformance.owner";
const TASK: &str = "io.cloudmap-conformance.task";
const CLUSTER: &str = "io.cloudmap-conformance.cluster";
const CONTAINER: &str = "io.cloudmap-conformance.container";

#[derive(Debug)]
pub struct DockerRuntime {
    docker: Docker,
    owner: String,
    /// Where cluster networks take their subnets from.
    pool: Ipv4Net,
    /// Serialises network creation: two tasks of a new cluster must not race to create it.
    networks: tokio::sync::Mutex<()>,
}

impl DockerRuntime {
    /// Connects to the engine (`DOCKER_HOST` or the local socket) and agrees on an API version.
    /// Connects to the engine; cluster networks get `/24`s of `pool` (`--ecs-network-pool`).
    pub async fn connect(owner: String, pool: Ipv4Net) -> Result<DockerRuntime, RuntimeError> {
        let where_ = std::env::var("DOCKER_HOST")
            .unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned());
        let unreachable =
            |e: bollard::errors::Error| RuntimeError(format!("no Docker engine at {where_}: {e}"));
        let docker = Docker::connect_with_defaults()
            .map_err(unreachable)?
            .with_timeout(Duration::from_secs(120));
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        Ok(DockerRuntime {
            docker,
            owner,
            pool,
            networks: tokio::sync::Mutex::new(()),
        })
    }

    fn network_name(&self, cluster: &ClusterRef) -> String {
        format!(
            "cloudmap-{}-{}-{}",
            self.owner, cluster.region, cluster.name
        )
    }

    fn labels(&self, extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut labels = HashMap::from([(OWNER.to_owned(), self.owner.clone())]);
        for (key, value) in extra {
            labels.insert((*key).to_owned(), (*value).to_owned());
        }
        labels
    }

    async fn network(&self, cluster: &ClusterRef) -> Result<ClusterNetwork, RuntimeError> {
        let _guard = self.networks.lock().await;
        let name = self.network_name(cluster);
        let inspected = match self.docker.inspect_network(&name, None).await {
            Ok(network) => network,
            Err(_) => {
                self.create_network(&name, cluster).await?;
                self.docker.inspect_network(&name, None).await.map_err(|e| {
                    RuntimeError(format!(
                        "ResourceInitializationError: cannot inspect the cluster network {name}: {e}"
                    ))
                })?
            }
        };
        let config = inspected
            .ipam
            .and_then(|ipam| ipam.config)
            .and_then(|configs| configs.into_iter().find(|c| c.subnet.is_some()));
        let subnet = config
            .as_ref()
            .and_then(|c| c.subnet.as_deref())
            .and_then(|s| s.parse::<ipnet::IpNet>().ok());
        let gateway = config
            .as_ref()
            .and_then(|c| c.gateway.as_deref())
            .and_then(|g| g.parse::<IpAddr>().ok());
        match (subnet, gateway) {
            (Some(clients), Some(address)) => Ok(ClusterNetwork {
                dns: Some(DnsExposure { address, clients }),
            }),
            _ => Err(RuntimeError(format!(
                "ResourceInitializationError: the cluster network {name} has no IPv4 subnet and gateway"
            ))),
        }
    }

    /// Creates the cluster network `name` on the first `/24` of the pool that no network of the
    /// engine uses (Docker's own default pools, 172.17.0.0/16 onwards and 192.168.0.0/16, clash
    /// with many home and office networks once they reach 192.168).
    async fn create_network(&self, name: &str, cluster: &ClusterRef) -> Result<(), RuntimeError> {
        let failed = |e: &dyn std::fmt::Display| {
            RuntimeError(format!(
                "ResourceInitializationError: cannot create the cluster network {name}: {e}"
            ))
        };
        let networks = self
            .docker
            .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
            .await
            .map_err(|e| failed(&e))?;
        let used: Vec<ipnet::IpNet> = networks
            .iter()
            .filter_map(|n| n.ipam.as_ref()?.config.as_ref())
            .flatten()
            .filter_map(|c| c.subnet.as_deref()?.parse().ok())
            .collect();
        let mut last_error = None;
        // A subnet free in the listing can still be refused (another program created one in
        // between, or a host route overlaps): try the next.
        for subnet in free_subnets(self.pool, &used).take(8) {
            let gateway = subnet.hosts().next().unwrap_or(subnet.network());
            let request = NetworkCreateRequest {
                name: name.to_owned(),
                driver: Some("bridge".to_owned()),
                labels: Some(self.labels(&[(CLUSTER, &cluster.name)])),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(subnet.to_string()),
                        gateway: Some(gateway.to_string()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            };
            match self.docker.create_network(request).await {
                Ok(_) => return Ok(()),
                Err(error) => last_error = Some(error.to_string()),
            }
        }
        Err(failed(&last_error.unwrap_or_else(|| {
            format!(
                "every /24 of --ecs-network-pool {} is in use; give a larger or another pool",
                self.pool
            )
        })))
    }

    async fn ensure_image(&self, image: &str) -> Result<(), RuntimeError> {
        if self.docker.inspect_image(image).await.is_ok() {
            return Ok(());
        }
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut pull = self.docker.create_image(Some(options), None, None);
        while let Some(progress) = pull.next().await {
            if let Err(error) = progress {
                return Err(RuntimeError(format!(
                    "CannotPullContainerError: {image} is not present on the Docker engine and pulling it failed: {error}"
                )));
            }
        }
        Ok(())
    }

    fn create_body(
        &self,
        spec: &TaskSpec,
        container: &ContainerSpec,
        gateway: IpAddr,
        network_mode: String,
        join_network: bool,
    ) -> ContainerCreateBody {
        let mut port_bindings = HashMap::new();
        let mut exposed = Vec::new();
        if spec.network_mode == NetworkMode::Bridge {
            for (container_port, host_port, protocol) in &container.port_mappings {
                let key = format!("{container_port}/{protocol}");
                exposed.push(key.clone());
                port_bindings.insert(
                    key,
                    Some(vec![PortBinding {
                        host_ip: Some(gateway.to_string()),
                        host_port: Some(if *host_port == 0 {
                            String::new()
                        } else {
                            host_port.to_string()
                        }),
                    }]),
                );
            }
        }
        let dns = match (spec.network_mode, spec.dns_server) {
            (NetworkMode::Host, _) | (_, None) => None,
            _ if !join_network => None,
            (_, Some(server)) => Some(vec![server.to_string()]),
        };
        let seconds = |s: u32| i64::from(s) * 1_000_000_000;
        let healthcheck = container.health_check.as_ref().map(|check| HealthConfig {
            test: Some(check.command.clone()),
            interval: Some(seconds(check.interval)),
            timeout: Some(seconds(check.timeout)),
            retries: Some(i64::from(check.retries)),
            start_period: check.start_period.map(seconds),
            start_interval: None,
        });
        let host_config = HostConfig {
            network_mode: Some(network_mode),
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            dns,
            init: container.init_process.then_some(true),
            memory: container.memory_mib.map(|m| m * 1024 * 1024),
            cpu_shares: (container.cpu_units >= 2).then_some(container.cpu_units),
            ..Default::default()
        };
        let networking_config = join_network.then(|| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                self.network_name(&spec.cluster),
                EndpointSettings::default(),
            )])),
        });
        ContainerCreateBody {
            image: Some(container.image.clone()),
            entrypoint: container.entry_point.clone(),
            cmd: container.command.clone(),
            env: Some(
                container
                    .environment
                    .iter()
                    .map(|kv| format!("{}={}", kv.name, kv.value))
                    .collect(),
            ),
            working_dir: container.working_directory.clone(),
            user: container.user.clone(),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            healthcheck,
            stop_timeout: i64::try_from(container.stop_timeout.as_secs()).ok(),
            labels: Some(self.labels(&[
                (TASK, &spec.task_id),
                (CLUSTER, &spec.cluster.name),
                (CONTAINER, &container.name),
            ])),
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        }
    }

    async fn start(
        &self,
        spec: &TaskSpec,
        created: &mut Vec<(String, String)>,
    ) -> Result<StartedTask, RuntimeError> {
        let network = self.network(&spec.cluster).await?;
        let gateway = network.dns.as_ref().map(|d| d.address).ok_or_else(|| {
            RuntimeError(
                "ResourceInitializationError: the cluster network has no gateway".to_owned(),
            )
        })?;
        for container in &spec.containers {
            self.ensure_image(&container.image).await?;
        }
        // The container that owns the task's network namespace (awsvpc) starts first.
        let owner_index = spec
            .containers
            .iter()
            .position(|c| c.essential)
            .unwrap_or(0);
        let mut order: Vec<usize> = vec![owner_index];
        order.extend((0..spec.containers.len()).filter(|i| *i != owner_index));
        let network_name = self.network_name(&spec.cluster);
        let mut owner_id = String::new();
        for index in order {
            let container = &spec.containers[index];
            let (mode, join) = match spec.network_mode {
                NetworkMode::Awsvpc if index == owner_index => (network_name.clone(), true),
                NetworkMode::Awsvpc => (format!("container:{owner_id}"), false),
                NetworkMode::Bridge => (network_name.clone(), true),
                NetworkMode::Host => ("host".to_owned(), false),
            };
            let body = self.create_body(spec, container, gateway, mode, join);
            let name = format!(
                "cloudmap-{}-{}-{}",
                self.owner,
                &spec.task_id[..spec.task_id.len().min(12)],
                container.name
            );
            let options = CreateContainerOptionsBuilder::default().name(&name).build();
            let response = self
                .docker
                .create_container(Some(options), body)
                .await
                .map_err(|e| {
                    RuntimeError(format!(
                        "CannotCreateContainerError: container {}: {e}",
                        container.name
                    ))
                })?;
            created.push((container.name.clone(), response.id.clone()));
            self.docker
                .start_container(&response.id, None)
                .await
                .map_err(|e| {
                    RuntimeError(format!(
                        "CannotStartContainerError: container {}: {e}",
                        container.name
                    ))
                })?;
            if index == owner_index {
                owner_id = response.id;
            }
        }
        let owner = self
            .docker
            .inspect_container(&owner_id, None)
            .await
            .map_err(|e| RuntimeError(format!("CannotInspectContainerError: {e}")))?;
        let ipv4 = match spec.network_mode {
            NetworkMode::Awsvpc => owner
                .network_settings
                .as_ref()
                .and_then(|s| s.networks.as_ref())
                .and_then(|n| n.get(&network_name))
                .and_then(|e| e.ip_address.as_deref())
                .and_then(|ip| ip.parse::<Ipv4Addr>().ok()),
            NetworkMode::Bridge | NetworkMode::Host => match gateway {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            },
        };
        let mut bindings = Vec::new();
        for (name, id) in created.iter() {
            let Some(container) = spec.containers.iter().find(|c| &c.name == name) else {
                continue;
            };
            match spec.network_mode {
                NetworkMode::Bridge => {
                    let inspected =
                        self.docker.inspect_container(id, None).await.map_err(|e| {
                            RuntimeError(format!("CannotInspectContainerError: {e}"))
                        })?;
                    let ports = inspected
                        .network_settings
                        .and_then(|s| s.ports)
                        .unwrap_or_default();
                    for (container_port, _, protocol) in &container.port_mappings {
                        let host_port = ports
                            .get(&format!("{container_port}/{protocol}"))
                            .and_then(|b| b.as_ref())
                            .and_then(|b| b.first())
                            .and_then(|b| b.host_port.as_deref())
                            .and_then(|p| p.parse::<u16>().ok());
                        if let Some(host_port) = host_port {
                            bindings.push(Binding {
                                container: name.clone(),
                                container_port: *container_port,
                                host_port,
                                protocol: protocol.clone(),
                                host_ip: gateway,
                            });
                        }
                    }
                }
                NetworkMode::Awsvpc | NetworkMode::Host => {
                    for (container_port, _, protocol) in &container.port_mappings {
                        bindings.push(Binding {
                            container: name.clone(),
                            container_port: *container_port,
                            host_port: *container_port,
                            protocol: protocol.clone(),
                            host_ip: ipv4.map_or(gateway, IpAddr::V4),
                        });
                    }
                }
            }
        }
        Ok(StartedTask {
            handle: encode_handle(created),
            ipv4,
            bindings,
            runtime_ids: created.clone(),
        })
    }

    /// A container's state; `Missing` only when the engine says it does not exist (any other
    /// error — a restarting engine, a timeout — is an error, not a dead task).
    async fn status(&self, name: &str, id: &str) -> Result<ContainerStatus, RuntimeError> {
        let inspected = match self.docker.inspect_container(id, None).await {
            Ok(inspected) => inspected,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                return Ok(ContainerStatus {
                    name: name.to_owned(),
                    state: ContainerState::Missing,
                    health: ContainerHealth::None,
                });
            }
            Err(e) => return Err(RuntimeError(format!("cannot inspect container {id}: {e}"))),
        };
        let state = inspected.state.unwrap_or_default();
        let health = match state.health.as_ref().and_then(|h| h.status) {
            Some(HealthStatusEnum::HEALTHY) => ContainerHealth::Healthy,
            Some(HealthStatusEnum::UNHEALTHY) => ContainerHealth::Unhealthy,
            Some(HealthStatusEnum::STARTING) => ContainerHealth::Starting,
            _ => ContainerHealth::None,
        };
        let container_state = match state.status {
            Some(ContainerStateStatusEnum::RUNNING) => ContainerState::Running,
            Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD) => {
                let reason = if state.oom_killed == Some(true) {
                    Some("OutOfMemoryError: Container killed due to memory usage".to_owned())
                } else {
                    state.error.filter(|e| !e.is_empty())
                };
                ContainerState::Exited {
                    code: state.exit_code.unwrap_or(-1),
                    reason,
                }
            }
            _ => ContainerState::Pending,
        };
        Ok(ContainerStatus {
            name: name.to_owned(),
            state: container_state,
            health,
        })
    }

    async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(RuntimeError(format!("cannot remove container {id}: {e}"))),
        }
    }

    async fn owned_containers(&self) -> Result<Vec<(String, Option<String>)>, RuntimeError> {
        let filters = HashMap::from([("label", vec![format!("{OWNER}={}", self.owner)])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| RuntimeError(format!("cannot list containers: {e}")))?;
        Ok(containers
            .into_iter()
            .filter_map(|c| {
                let task = c.labels.as_ref().and_then(|l| l.get(TASK)).cloned();
                Some((c.id?, task))
            })
            .collect())
    }
}

/// `name=id,name=id` in start order (the namespace owner first).
fn encode_handle(containers: &[(String, String)]) -> String {
    containers
        .iter()
        .map(|(name, id)| format!("{name}={id}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_handle(handle: &str) -> Vec<(String, String)> {
    handle
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, id)| (name.to_owned(), id.to_owned()))
        .collect()
}

impl TaskRuntime for DockerRuntime {
    fn check(&self) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            self.docker.ping().await.map(|_| ()).map_err(|e| {
                RuntimeError(format!(
                    "ResourceInitializationError: the Docker engine does not answer: {e}"
                ))
            })
        })
    }

    fn prepare_cluster<'a>(
        &'a self,
        cluster: &'a ClusterRef,
    ) -> BoxFuture<'a, Result<ClusterNetwork, RuntimeError>> {
        Box::pin(self.network(cluster))
    }

    fn remove_cluster<'a>(
        &'a self,
        cluster: &'a ClusterRef,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let name = self.network_name(cluster);
            match self.docker.remove_network(&name).await {
                Ok(()) => Ok(()),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => Ok(()),
                Err(e) => Err(RuntimeError(format!("cannot remove network {name}: {e}"))),
            }
        })
    }

    fn start_task<'a>(
        &'a self,
        spec: &'a TaskSpec,
    ) -> BoxFuture<'a, Result<StartedTask, RuntimeError>> {
        Box::pin(async move {
            let mut created = Vec::new();
            match self.start(spec, &mut created).await {
                Ok(started) => Ok(started),
                Err(error) => {
                    for (_, id) in created.iter().rev() {
                        if let Err(cleanup) = self.remove(id).await {
                            tracing::warn!(%cleanup, "container of a failed task not removed");
                        }
                    }
                    Err(error)
                }
            }
        })
    }

    fn inspect_task<'a>(
        &'a self,
        handle: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContainerStatus>, RuntimeError>> {
        Box::pin(async move {
            let mut statuses = Vec::new();
            for (name, id) in decode_handle(handle) {
                statuses.push(self.status(&name, &id).await?);
            }
            Ok(statuses)
        })
    }

    fn stop_task<'a>(
        &'a self,
        handle: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContainerStatus>, RuntimeError>> {
        Box::pin(async move {
            let containers = decode_handle(handle);
            // The containers sharing the owner's namespace stop together, the owner (first) last;
            // each container's own StopTimeout (set at creation) applies.
            let stop = |id: String| async move {
                let options = StopContainerOptionsBuilder::default().build();
                if let Err(error) = self.docker.stop_container(&id, Some(options)).await {
                    tracing::debug!(%error, container = %id, "stop failed (already gone?)");
                }
            };
            futures_util::future::join_all(
                containers.iter().skip(1).map(|(_, id)| stop(id.clone())),
            )
            .await;
            if let Some((_, owner)) = containers.first() {
                stop(owner.clone()).await;
            }
            let mut statuses = Vec::new();
            for (name, id) in &containers {
                match self.status(name, id).await {
                    Ok(status) => statuses.push(status),
                    Err(error) => tracing::debug!(%error, "final state unknown"),
                }
            }
            let mut failure = None;
            for (_, id) in containers.iter().rev() {
                if let Err(error) = self.remove(id).await {
                    failure = Some(error);
                }
            }
            match failure {
                Some(error) => Err(error),
                None => Ok(statuses),
            }
        })
    }

    fn sweep<'a>(
        &'a self,
        live: &'a HashSet<String>,
    ) -> BoxFuture<'a, Result<usize, RuntimeError>> {
        Box::pin(async move {
            let mut removed = 0;
            for (id, task) in self.owned_containers().await? {
                if task.as_ref().is_some_and(|t| live.contains(t)) {
                    continue;
                }
                // One container that cannot be removed does not keep the others.
                match self.remove(&id).await {
                    Ok(()) => removed += 1,
                    Err(error) => tracing::warn!(%error, "leftover container not removed"),
                }
            }
            // Networks of ours with nothing attached are recreated when needed.
            let filters = HashMap::from([("label", vec![format!("{OWNER}={}", self.owner)])]);
            let options = ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build();
            let networks = self
                .docker
                .list_networks(Some(options))
                .await
                .map_err(|e| RuntimeError(format!("cannot list networks: {e}")))?;
            for network in networks {
                let Some(name) = network.name else { continue };
                let in_use = self
                    .docker
                    .inspect_network(&name, None)
                    .await
                    .ok()
                    .and_then(|n| n.containers)
                    .is_some_and(|c| !c.is_empty());
                if !in_use && self.docker.remove_network(&name).await.is_ok() {
                    removed += 1;
                }
            }
            Ok(removed)
        })
    }
}

/// The `/24`s of `pool` (or `pool` itself when it is smaller) that overlap none of `used`.
fn free_subnets(pool: Ipv4Net, used: &[ipnet::IpNet]) -> impl Iterator<Item = Ipv4Net> + '_ {
    let prefix = pool.prefix_len().max(24);
    pool.subnets(prefix)
        .into_iter()
        .flatten()
        .filter(move |candidate| {
            let candidate = ipnet::IpNet::V4(*candidate);
            !used
                .iter()
                .any(|u| u.contains(&candidate.network()) || candidate.contains(&u.network()))
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn cluster_networks_take_the_first_free_slash_24_of_the_pool() {
        let pool: super::Ipv4Net = "172.30.0.0/16".parse().unwrap();
        let used: Vec<ipnet::IpNet> = vec![
            "172.17.0.0/16".parse().unwrap(),
            "172.30.0.0/24".parse().unwrap(),
            "172.30.1.128/25".parse().unwrap(),
        ];
        let free: Vec<String> = super::free_subnets(pool, &used)
            .take(2)
            .map(|n| n.to_string())
            .collect();
        assert_eq!(free, ["172.30.2.0/24", "172.30.3.0/24"]);
        // A pool inside a used network has nothing free.
        let inside: Vec<ipnet::IpNet> = vec!["172.16.0.0/12".parse().unwrap()];
        assert_eq!(super::free_subnets(pool, &inside).count(), 0);
        // A pool smaller than a /24 is one subnet.
        let small: super::Ipv4Net = "10.250.0.0/26".parse().unwrap();
        assert_eq!(super::free_subnets(small, &[]).count(), 1);
    }

    use super::*;

    #[test]
    fn handles_round_trip_in_order() {
        let containers = vec![
            ("app".to_owned(), "abc".to_owned()),
            ("sidecar".to_owned(), "def".to_owned()),
        ];
        assert_eq!(decode_handle(&encode_handle(&containers)), containers);
        assert!(decode_handle("").is_empty());
    }
}
