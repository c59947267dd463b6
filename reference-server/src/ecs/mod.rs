//! The ECS subset: state, the service scheduler and the task drivers.
//!
//! - `model.rs`: clusters, task definitions, services, tasks (stored as their ECS documents).
//! - `store.rs`: durable ECS state (SQLite, committed before a write returns).
//! - `scheduler.rs`: keeps `desiredCount` tasks per service, rolls deployments, backs off.
//! - `driver.rs`: one task's lifecycle on the runtime, Cloud Map registration and health.
//! - `cloudmap.rs`: ECS's calls into Cloud Map (spec §11).
//!
//! Writers are the API handlers (`api/ecs`), the scheduler and the drivers; all of them go
//! through `EcsStore::write`. The API never talks to the runtime: it records intent (a task to
//! start, a task to stop) and wakes the scheduler or the task's driver.

pub mod cloudmap;
mod driver;
pub mod ids;
pub mod model;
pub mod scheduler;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::runtime::{ClusterNetwork, ClusterRef, RuntimeError, TaskRuntime};
use cloudmap::CloudMap;
use store::{EcsChange, EcsStore};

#[derive(Debug, Clone)]
pub struct EcsConfig {
    pub account_id: String,
    /// How often running tasks' containers are inspected (health, exits).
    pub poll_interval: Duration,
    /// SIGTERM → SIGKILL grace when a container definition has no `stopTimeout` (ECS: 30 s).
    pub stop_timeout: Duration,
    /// The longest wait between failed task launches of one service.
    pub max_backoff: Duration,
}

/// Opens DNS listeners on cluster networks so that containers can use the server as their
/// nameserver (implemented by the DNS server; absent with `--no-dns`).
pub trait DnsListeners: Send + Sync + std::fmt::Debug {
    /// Serves DNS on `address:53`; clients in `clients` may use forwarding.
    fn serve_on(&self, address: IpAddr, clients: ipnet::IpNet) -> Result<(), String>;
}

#[derive(Debug)]
pub struct Ecs {
    pub store: EcsStore,
    pub runtime: Arc<dyn TaskRuntime>,
    pub config: EcsConfig,
    pub cloudmap: CloudMap,
    dns: Option<Arc<dyn DnsListeners>>,
    /// Wakes the scheduler after a write that may need it.
    wake: Notify,
    /// Wakes one task's driver (a stop was requested).
    drivers: Mutex<HashMap<String, Arc<Notify>>>,
    /// Clusters whose networks this run created or used (removed at shutdown).
    networks: tokio::sync::Mutex<HashSet<ClusterRef>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Ecs {
    pub fn new(
        store: EcsStore,
        runtime: Arc<dyn TaskRuntime>,
        config: EcsConfig,
        cloudmap: CloudMap,
        dns: Option<Arc<dyn DnsListeners>>,
    ) -> Arc<Ecs> {
        Arc::new(Ecs {
            store,
            runtime,
            config,
            cloudmap,
            dns,
            wake: Notify::new(),
            drivers: Mutex::new(HashMap::new()),
            networks: tokio::sync::Mutex::new(HashSet::new()),
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        })
    }

    pub fn arn(&self, region: &str, resource: &str) -> String {
        format!("arn:aws:ecs:{region}:{}:{resource}", self.config.account_id)
    }

    /// Asks the scheduler for a pass.
    pub fn wake_scheduler(&self) {
        self.wake.notify_one();
    }

    /// Asks a task's driver to look at its task again (e.g. it is to stop).
    pub fn wake_task(&self, task_arn: &str) {
        if let Some(notify) = self.drivers.lock().get(task_arn) {
            notify.notify_one();
        }
    }

    /// Starts the driver of a task just recorded as PROVISIONING.
    pub fn launch(self: &Arc<Self>, task_arn: String) {
        self.spawn_driver(task_arn, driver::Start::Fresh);
    }

    fn spawn_driver(self: &Arc<Self>, task_arn: String, start: driver::Start) {
        let notify = Arc::new(Notify::new());
        {
            let mut drivers = self.drivers.lock();
            if drivers.contains_key(&task_arn) {
                return;
            }
            drivers.insert(task_arn.clone(), Arc::clone(&notify));
        }
        let ecs = Arc::clone(self);
        self.tracker.spawn(async move {
            driver::drive(&ecs, &task_arn, start, &notify).await;
            ecs.drivers.lock().remove(&task_arn);
            ecs.wake_scheduler();
        });
    }

    /// The cluster's network, created if missing (on every launch: it may have been removed
    /// behind our back), with the server's DNS listening on its gateway so containers can resolve
    /// the namespaces.
    async fn network(&self, cluster: &ClusterRef) -> Result<ClusterNetwork, RuntimeError> {
        let mut known = self.networks.lock().await;
        let network = self.runtime.prepare_cluster(cluster).await?;
        if let (Some(dns), Some(exposure)) = (&self.dns, &network.dns) {
            dns.serve_on(exposure.address, exposure.clients).map_err(|e| {
                RuntimeError(format!(
                    "ResourceInitializationError: cannot serve DNS to the cluster network on {}:53: {e}",
                    exposure.address
                ))
            })?;
        }
        known.insert(cluster.clone());
        Ok(network)
    }

    /// Forgets and removes a deleted cluster's network (under the same lock as `network`, so a
    /// launch cannot slip in between).
    pub async fn remove_network(&self, cluster: &ClusterRef) {
        let mut known = self.networks.lock().await;
        known.remove(cluster);
        if let Err(error) = self.runtime.remove_cluster(cluster).await {
            tracing::warn!(%error, cluster = %cluster.name, "cluster network not removed");
        }
    }

    /// Resumes after a restart: tasks whose containers still run are adopted, the others are
    /// stopped (and deregistered); containers of ours that belong to no task are removed. Then
    /// the scheduler runs until `stop`.
    pub async fn start(self: &Arc<Self>) {
        // (task, runtime handle, its essential containers)
        let unfinished: Vec<(String, Option<String>, Vec<String>)> = self.store.read(|s| {
            s.tasks
                .values()
                .filter(|t| !t.wire.is_stopped())
                .map(|t| {
                    let essential = s
                        .task_definitions
                        .get(&t.wire.task_definition_arn)
                        .map(|d| {
                            d.container_definitions
                                .iter()
                                .filter(|c| c.essential)
                                .map(|c| c.name.clone())
                                .collect()
                        })
                        .unwrap_or_default();
                    (
                        t.wire.task_arn.clone(),
                        t.state.runtime_handle.clone(),
                        essential,
                    )
                })
                .collect()
        });
        let mut adopt = Vec::new();
        let mut lost = Vec::new();
        for (arn, handle, essential) in unfinished {
            // Adopted when every essential container still runs (a non-essential one may have
            // finished its work and exited).
            let running = match &handle {
                Some(handle) => self
                    .runtime
                    .inspect_task(handle)
                    .await
                    .map(|containers| {
                        let running: Vec<&str> = containers
                            .iter()
                            .filter(|c| c.state == crate::runtime::ContainerState::Running)
                            .map(|c| c.name.as_str())
                            .collect();
                        !essential.is_empty()
                            && essential.iter().all(|e| running.contains(&e.as_str()))
                    })
                    .unwrap_or(false),
                None => false,
            };
            if running {
                adopt.push(arn)
            } else {
                lost.push(arn)
            }
        }
        // The lost tasks' containers are not swept: their drivers deregister them first, then
        // stop and remove what is left.
        let live: HashSet<String> = adopt
            .iter()
            .chain(&lost)
            .map(|arn| model::task_id(arn).to_owned())
            .collect();
        match self.runtime.sweep(&live).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(
                removed,
                "removed containers and networks left by an earlier run"
            ),
            Err(error) => tracing::warn!(%error, "start-up sweep failed"),
        }
        for arn in adopt {
            tracing::info!(task = %arn, "adopted a running task after restart");
            self.spawn_driver(arn, driver::Start::Adopt);
        }
        for arn in lost {
            self.spawn_driver(arn, driver::Start::Lost);
        }
        let ecs = Arc::clone(self);
        self.tracker
            .spawn(async move { scheduler::run(&ecs).await });
    }

    /// Stops every task (deregistering it first), removes the networks and waits for all of it:
    /// a stopped server leaves no container behind.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        let clusters: Vec<ClusterRef> = self.networks.lock().await.iter().cloned().collect();
        for cluster in clusters {
            self.remove_network(&cluster).await;
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Empties ECS for `POST /_reset`: every service is deleted (so the scheduler launches
    /// nothing), every task stopped the usual way — deregistered from Cloud Map before its
    /// containers are signalled — and, once their drivers have finished, everything is forgotten
    /// in one durable write and the cluster networks are removed. Returns how many tasks were
    /// stopped, or why the reset could not finish within `deadline`.
    pub async fn reset(&self, deadline: Duration) -> Result<usize, String> {
        let until = tokio::time::Instant::now() + deadline;
        let mut stopped = 0;
        // Repeated until nothing is left to stop: a scheduler pass that began before the
        // services were deleted may still add a task.
        loop {
            let stopping = self.store.write(stop_everything).map_err(|e| e.message)?;
            for arn in &stopping {
                self.wake_task(arn);
            }
            stopped += stopping.len();
            // The drivers deregister their tasks, stop the containers and end.
            let running = self.drivers.lock().len();
            if stopping.is_empty() && running == 0 {
                break;
            }
            if tokio::time::Instant::now() > until {
                return Err(format!(
                    "{running} ECS tasks were still stopping after {deadline:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.store
            .write(|_| Ok(((), vec![EcsChange::Clear])))
            .map_err(|e| e.message)?;
        let clusters: Vec<ClusterRef> = self.networks.lock().await.iter().cloned().collect();
        for cluster in clusters {
            self.remove_network(&cluster).await;
        }
        Ok(stopped)
    }
}

/// The changes that delete every service and ask every task that is not yet asked to stop,
/// with the tasks asked.
fn stop_everything(
    state: &store::EcsState,
) -> Result<(Vec<String>, Vec<EcsChange>), crate::api::error::ApiError> {
    let mut changes: Vec<EcsChange> = state
        .services
        .keys()
        .map(|arn| EcsChange::DeleteService(arn.clone()))
        .collect();
    let mut stopping = Vec::new();
    for task in state.tasks.values() {
        if task.wire.desired_status == model::status::STOPPED {
            continue;
        }
        let mut task = task.clone();
        task.wire.request_stop(
            "UserInitiated",
            "The server was reset (POST /_reset)".to_owned(),
        );
        stopping.push(task.wire.task_arn.clone());
        changes.push(EcsChange::PutTask(task));
    }
    Ok((stopping, changes))
}
