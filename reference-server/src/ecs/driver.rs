//! One task's life: PROVISIONING → PENDING (network, images, containers) → ACTIVATING (Cloud Map
//! registration, spec §11.3) → RUNNING (containers watched: exits, health → custom health
//! status, §11.4) → DEACTIVATING (deregistration, before any container is signalled) → STOPPING
//! → STOPPED. Every transition is a durable write, so a restarted server knows what each task
//! owes (a deregistration, a container removal).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::Ecs;
use super::model::{self, Registration, TaskRecord, status};
use super::store::EcsChange;
use crate::api::cloudmap::wire;
use crate::runtime::{
    ClusterRef, ContainerHealth, ContainerSpec, ContainerState, ContainerStatus, NetworkMode,
    StartedTask, TaskSpec,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A new task: start its containers.
    Fresh,
    /// Its containers survived a restart of the server: watch them.
    Adopt,
    /// Its containers are gone (the server restarted without them): stop it.
    Lost,
}

/// Why a task stops.
#[derive(Debug, Clone)]
struct Stop {
    code: &'static str,
    reason: String,
    /// Counts against the service (launch backoff, `failedTasks`).
    failed: bool,
}

impl Stop {
    fn shutdown() -> Stop {
        Stop {
            code: "ServiceSchedulerInitiated",
            reason: "The reference server shut down".to_owned(),
            failed: false,
        }
    }

    fn failed(code: &'static str, reason: impl Into<String>) -> Stop {
        Stop {
            code,
            reason: reason.into(),
            failed: true,
        }
    }
}

pub async fn drive(ecs: &Arc<Ecs>, arn: &str, start: Start, notify: &Notify) {
    let outcome = match start {
        Start::Fresh => launch(ecs, arn).await,
        Start::Adopt => adopt(ecs, arn).await,
        Start::Lost => Err(Stop::failed(
            "TaskFailedToStart",
            "Task stopped: its containers were gone when the reference server restarted",
        )),
    };
    let stop = match outcome {
        Ok(()) => watch(ecs, arn, notify).await,
        Err(stop) => stop,
    };
    finish(ecs, arn, stop).await;
}

fn read(ecs: &Ecs, arn: &str) -> Option<TaskRecord> {
    ecs.store.read(|s| s.tasks.get(arn).cloned())
}

/// Applies `edit` to the task (and bumps its version) in one durable write.
fn update(ecs: &Ecs, arn: &str, edit: impl FnOnce(&mut TaskRecord)) -> Option<TaskRecord> {
    let result = ecs.store.write(|state| {
        let Some(mut record) = state.tasks.get(arn).cloned() else {
            return Ok((None, Vec::new()));
        };
        edit(&mut record);
        record.wire.version += 1;
        Ok((Some(record.clone()), vec![EcsChange::PutTask(record)]))
    });
    match result {
        Ok(record) => record,
        Err(error) => {
            tracing::error!(task = %arn, %error, "task state not saved");
            None
        }
    }
}

/// The user's or scheduler's stop request, if any.
fn requested_stop(record: &TaskRecord) -> Option<Stop> {
    (record.wire.desired_status == status::STOPPED).then(|| Stop {
        code: match record.wire.stop_code.as_deref() {
            Some("UserInitiated") => "UserInitiated",
            _ => "ServiceSchedulerInitiated",
        },
        reason: record.wire.stopped_reason.clone().unwrap_or_default(),
        failed: record.state.failed,
    })
}

/// Re-opens the cluster network's DNS listener for a task whose containers outlived a restart
/// (they resolve through it), and makes the network known for removal at shutdown.
async fn adopt(ecs: &Arc<Ecs>, arn: &str) -> Result<(), Stop> {
    let cluster = ecs
        .store
        .read(|s| {
            let task = s.tasks.get(arn)?;
            s.clusters.get(&task.wire.cluster_arn).cloned()
        })
        .ok_or_else(|| Stop::failed("TaskFailedToStart", "cluster not found"))?;
    let cluster_ref = ClusterRef {
        region: cluster.region,
        name: cluster.cluster_name,
    };
    ecs.network(&cluster_ref)
        .await
        .map_err(|e| Stop::failed("TaskFailedToStart", e.0))?;
    // Killed between starting the containers and RUNNING: finish the launch (registering again
    // is harmless: RegisterInstance replaces).
    let record =
        read(ecs, arn).ok_or_else(|| Stop::failed("TaskFailedToStart", "task vanished"))?;
    if record.wire.last_status != status::RUNNING {
        let definition = ecs
            .store
            .read(|s| {
                s.task_definitions
                    .get(&record.wire.task_definition_arn)
                    .cloned()
            })
            .ok_or_else(|| Stop::failed("TaskFailedToStart", "task definition not found"))?;
        let mode = NetworkMode::parse(definition.network_mode()).unwrap_or(NetworkMode::Awsvpc);
        activate(ecs, arn, &started_from(&record), &definition, mode).await?;
    }
    Ok(())
}

/// What `start_task` returned, as far as the task's record keeps it.
fn started_from(record: &TaskRecord) -> StartedTask {
    StartedTask {
        handle: record.state.runtime_handle.clone().unwrap_or_default(),
        ipv4: record.state.ipv4.as_deref().and_then(|ip| ip.parse().ok()),
        bindings: record
            .wire
            .containers
            .iter()
            .flat_map(|c| {
                c.network_bindings.iter().map(|b| crate::runtime::Binding {
                    container: c.name.clone(),
                    container_port: b.container_port,
                    host_port: b.host_port,
                    protocol: b.protocol.clone(),
                    host_ip: b
                        .bind_ip
                        .parse()
                        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
                })
            })
            .collect(),
        runtime_ids: record
            .wire
            .containers
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.runtime_id.clone()?)))
            .collect(),
    }
}

/// Why a launch must not go on: a stop was asked for, or the server is shutting down.
fn interrupted(ecs: &Ecs, arn: &str) -> Option<Stop> {
    if ecs.is_stopping() {
        return Some(Stop::shutdown());
    }
    read(ecs, arn).and_then(|r| requested_stop(&r))
}

async fn launch(ecs: &Arc<Ecs>, arn: &str) -> Result<(), Stop> {
    let record =
        read(ecs, arn).ok_or_else(|| Stop::failed("TaskFailedToStart", "task vanished"))?;
    if let Some(stop) = requested_stop(&record) {
        return Err(stop);
    }
    let (definition, cluster) = ecs.store.read(|s| {
        (
            s.task_definitions
                .get(&record.wire.task_definition_arn)
                .cloned(),
            s.clusters.get(&record.wire.cluster_arn).cloned(),
        )
    });
    let definition = definition.ok_or_else(|| {
        Stop::failed(
            "TaskFailedToStart",
            format!(
                "task definition {} not found",
                record.wire.task_definition_arn
            ),
        )
    })?;
    let cluster = cluster.ok_or_else(|| Stop::failed("TaskFailedToStart", "cluster not found"))?;
    update(ecs, arn, |r| {
        r.wire.last_status = status::PENDING.to_owned()
    });
    let cluster_ref = ClusterRef {
        region: cluster.region.clone(),
        name: cluster.cluster_name.clone(),
    };
    ecs.runtime
        .check()
        .await
        .map_err(|e| Stop::failed("TaskFailedToStart", e.0))?;
    let network = ecs
        .network(&cluster_ref)
        .await
        .map_err(|e| Stop::failed("TaskFailedToStart", e.0))?;
    let network_mode = NetworkMode::parse(definition.network_mode()).ok_or_else(|| {
        Stop::failed(
            "TaskFailedToStart",
            format!(
                "the network mode {} cannot run tasks here",
                definition.network_mode()
            ),
        )
    })?;
    let spec = TaskSpec {
        cluster: cluster_ref,
        task_id: record.wire.id().to_owned(),
        family: definition.family.clone(),
        revision: definition.revision,
        network_mode,
        containers: definition
            .container_definitions
            .iter()
            .map(|c| ContainerSpec::from_definition(c, ecs.config.stop_timeout))
            .collect(),
        dns_server: network
            .dns
            .as_ref()
            .filter(|_| ecs.dns.is_some())
            .map(|d| d.address),
        ecs_service: record
            .state
            .service_arn
            .as_deref()
            .and_then(|arn| arn.rsplit('/').next())
            .map(str::to_owned),
        discovery_service: record.state.registry.as_ref().and_then(|r| {
            let region = cluster.region.as_str();
            ecs.cloudmap
                .service(region, r.registry_arn.as_deref()?)
                .ok()
                .map(|s| s.name)
        }),
    };
    if let Some(stop) = interrupted(ecs, arn) {
        return Err(stop);
    }
    let started = ecs
        .runtime
        .start_task(&spec)
        .await
        .map_err(|e| Stop::failed("TaskFailedToStart", e.0))?;
    update(ecs, arn, |r| record_start(r, &started, network_mode))
        .ok_or_else(|| Stop::failed("TaskFailedToStart", "task vanished"))?;
    activate(ecs, arn, &started, &definition, network_mode).await
}

/// ACTIVATING → RUNNING: registers the task in Cloud Map (if its service has a registry) and
/// marks it running.
async fn activate(
    ecs: &Arc<Ecs>,
    arn: &str,
    started: &StartedTask,
    definition: &model::TaskDefinition,
    network_mode: NetworkMode,
) -> Result<(), Stop> {
    if let Some(stop) = interrupted(ecs, arn) {
        return Err(stop);
    }
    let record =
        read(ecs, arn).ok_or_else(|| Stop::failed("TaskFailedToStart", "task vanished"))?;
    if let Some(registry) = record.state.registry.clone() {
        register(
            ecs,
            &record,
            &registry,
            started,
            &definition.family,
            network_mode,
        )
        .await?;
    }
    let no_checks = definition
        .container_definitions
        .iter()
        .all(|c| c.health_check.is_none());
    let record = update(ecs, arn, |r| {
        r.wire.last_status = status::RUNNING.to_owned();
        let now = model::now();
        r.wire.started_at = Some(now);
        for container in &mut r.wire.containers {
            container.last_status = status::RUNNING.to_owned();
        }
        if no_checks {
            r.state.healthy_at = Some(now);
        }
    })
    .ok_or_else(|| Stop::failed("TaskFailedToStart", "task vanished"))?;
    tracing::info!(task = %arn, ip = ?started.ipv4, "task running");
    // RUNNING with no container health checks counts as healthy (spec §11.4, EMU-REC 2).
    if no_checks {
        became_healthy(ecs, &record).await;
    }
    Ok(())
}

fn record_start(record: &mut TaskRecord, started: &StartedTask, mode: NetworkMode) {
    record.state.runtime_handle = Some(started.handle.clone());
    record.state.ipv4 = started.ipv4.map(|ip| ip.to_string());
    record.wire.last_status = status::ACTIVATING.to_owned();
    let ip = started.ipv4.map(|ip| ip.to_string());
    if mode == NetworkMode::Awsvpc
        && let Some(ip) = &ip
    {
        let attachment_id = super::ids::uuid();
        record.wire.attachments = vec![serde_json::json!({
            "id": attachment_id,
            "type": "ElasticNetworkInterface",
            "status": "ATTACHED",
            "details": [
                {"name": "subnetId", "value": "subnet-local"},
                {"name": "networkInterfaceId", "value": format!("eni-{}", &attachment_id[..8])},
                {"name": "privateIPv4Address", "value": ip},
            ],
        })];
    }
    for container in &mut record.wire.containers {
        container.runtime_id = started
            .runtime_ids
            .iter()
            .find(|(name, _)| *name == container.name)
            .map(|(_, id)| id.clone());
        container.network_bindings = started
            .bindings
            .iter()
            .filter(|b| b.container == container.name && mode == NetworkMode::Bridge)
            .map(|b| model::NetworkBinding {
                bind_ip: b.host_ip.to_string(),
                container_port: b.container_port,
                host_port: b.host_port,
                protocol: b.protocol.clone(),
            })
            .collect();
        if mode == NetworkMode::Awsvpc
            && let Some(ip) = &ip
        {
            container.network_interfaces = vec![serde_json::json!({
                "attachmentId": record.wire.attachments.first().and_then(|a| a.get("id")).cloned(),
                "privateIpv4Address": ip,
            })];
        }
    }
}

/// Registers the task with its Cloud Map service (spec §11.2). The intent is saved first, so a
/// crash between the two still deregisters it later.
async fn register(
    ecs: &Arc<Ecs>,
    record: &TaskRecord,
    registry: &model::ServiceRegistry,
    started: &StartedTask,
    family: &str,
    mode: NetworkMode,
) -> Result<(), Stop> {
    let region = ecs
        .store
        .read(|s| {
            s.clusters
                .get(&record.wire.cluster_arn)
                .map(|c| c.region.clone())
        })
        .unwrap_or_default();
    let cluster_name = record
        .wire
        .cluster_arn
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let service_name = record
        .state
        .service_arn
        .as_deref()
        .and_then(|arn| arn.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();
    let arn = registry.registry_arn.clone().unwrap_or_default();
    let fail = |message: String| {
        Stop::failed(
            "TaskFailedToStart",
            format!("Failed to register the task with the Cloud Map service {arn}: {message}"),
        )
    };
    let service = ecs.cloudmap.service(&region, &arn).map_err(fail)?;
    let ip = started
        .ipv4
        .ok_or_else(|| fail("the task has no IPv4 address".to_owned()))?;
    let port = registry.port.or_else(|| {
        let (name, container_port) = (registry.container_name.as_ref()?, registry.container_port?);
        match mode {
            NetworkMode::Bridge => started
                .bindings
                .iter()
                .find(|b| &b.container == name && b.container_port == container_port)
                .map(|b| b.host_port),
            NetworkMode::Awsvpc | NetworkMode::Host => Some(container_port),
        }
    });
    let mut attributes = wire::Map::new();
    attributes.insert("AWS_INSTANCE_IPV4".into(), ip.to_string());
    // Only when a port is configured (spec §11.2, EMU-REC for A-only awsvpc services).
    if let Some(port) = port {
        attributes.insert("AWS_INSTANCE_PORT".into(), port.to_string());
    }
    attributes.insert(
        "AVAILABILITY_ZONE".into(),
        record.wire.availability_zone.clone(),
    );
    attributes.insert("REGION".into(), region.clone());
    attributes.insert("ECS_SERVICE_NAME".into(), service_name);
    attributes.insert("ECS_CLUSTER_NAME".into(), cluster_name);
    attributes.insert("ECS_TASK_DEFINITION_FAMILY".into(), family.to_owned());
    if service.custom_health {
        attributes.insert("AWS_INIT_HEALTH_STATUS".into(), "UNHEALTHY".into());
    }
    let task_id = record.wire.id().to_owned();
    update(ecs, &record.wire.task_arn, |r| {
        r.state.registration = Some(Registration {
            service_id: service.id.clone(),
            region: region.clone(),
            registered: true,
            reported_health: service.custom_health.then(|| "UNHEALTHY".to_owned()),
            custom_health: service.custom_health,
        });
    });
    ecs.cloudmap
        .register(&region, &service.id, &task_id, attributes)
        .await
        .map_err(fail)?;
    tracing::info!(task = %task_id, service = %service.id, %ip, ?port, "task registered in Cloud Map");
    Ok(())
}

/// The task reached HEALTHY (or RUNNING without checks): report it to Cloud Map and reset the
/// service's launch backoff.
async fn became_healthy(ecs: &Ecs, record: &TaskRecord) {
    report_health(ecs, record, true).await;
    if let Some(service_arn) = &record.state.service_arn {
        update_service(ecs, service_arn, |service| {
            service.consecutive_failures = 0;
            service.next_launch_at = 0.0;
        });
    }
}

/// Applies `edit` to a task's service in one durable write (nothing is written if it changes
/// nothing).
fn update_service(ecs: &Ecs, arn: &str, edit: impl FnOnce(&mut model::EcsService)) {
    let result = ecs.store.write(|state| {
        let Some(before) = state.services.get(arn) else {
            return Ok(((), Vec::new()));
        };
        let mut service = before.clone();
        edit(&mut service);
        if &service == before {
            return Ok(((), Vec::new()));
        }
        Ok(((), vec![EcsChange::PutService(service)]))
    });
    if let Err(error) = result {
        tracing::error!(service = %arn, %error, "service state not saved");
    }
}

async fn report_health(ecs: &Ecs, record: &TaskRecord, healthy: bool) {
    let Some(registration) = &record.state.registration else {
        return;
    };
    if !registration.custom_health || !registration.registered {
        return;
    }
    let wanted = if healthy { "HEALTHY" } else { "UNHEALTHY" };
    if registration.reported_health.as_deref() == Some(wanted) {
        return;
    }
    match ecs
        .cloudmap
        .set_health(
            &registration.region,
            &registration.service_id,
            record.wire.id(),
            healthy,
        )
        .await
    {
        Ok(()) => {
            tracing::info!(task = %record.wire.id(), status = wanted, "custom health reported to Cloud Map");
            update(ecs, &record.wire.task_arn, |r| {
                if let Some(reg) = &mut r.state.registration {
                    reg.reported_health = Some(wanted.to_owned());
                }
            });
        }
        Err(error) => {
            tracing::warn!(task = %record.wire.id(), %error, "custom health not reported")
        }
    }
}

fn health_word(health: ContainerHealth) -> &'static str {
    match health {
        ContainerHealth::Healthy => "HEALTHY",
        ContainerHealth::Unhealthy => "UNHEALTHY",
        ContainerHealth::Starting | ContainerHealth::None => "UNKNOWN",
    }
}

/// The task's health from its containers': UNHEALTHY if an essential container with a check is
/// unhealthy, HEALTHY if every essential container with a check is healthy, else UNKNOWN.
fn task_health(essential: &[String], statuses: &[ContainerStatus]) -> &'static str {
    let checked: Vec<&ContainerStatus> = statuses
        .iter()
        .filter(|s| essential.contains(&s.name) && s.health != ContainerHealth::None)
        .collect();
    if checked.is_empty() {
        "UNKNOWN"
    } else if checked
        .iter()
        .any(|s| s.health == ContainerHealth::Unhealthy)
    {
        "UNHEALTHY"
    } else if checked.iter().all(|s| s.health == ContainerHealth::Healthy) {
        "HEALTHY"
    } else {
        "UNKNOWN"
    }
}

/// Watches a RUNNING task until it is to stop.
async fn watch(ecs: &Arc<Ecs>, arn: &str, notify: &Notify) -> Stop {
    let essential: Vec<String> = ecs.store.read(|s| {
        s.tasks
            .get(arn)
            .and_then(|t| s.task_definitions.get(&t.wire.task_definition_arn))
            .map(|d| {
                d.container_definitions
                    .iter()
                    .filter(|c| c.essential)
                    .map(|c| c.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    });
    loop {
        let Some(record) = read(ecs, arn) else {
            return Stop::failed("TaskFailedToStart", "task vanished");
        };
        if let Some(stop) = requested_stop(&record) {
            return stop;
        }
        let Some(handle) = record.state.runtime_handle.clone() else {
            return Stop::failed("TaskFailedToStart", "the task has no containers");
        };
        match ecs.runtime.inspect_task(&handle).await {
            Ok(statuses) => {
                if let Some(stop) = observe(ecs, &record, &essential, &statuses).await {
                    return stop;
                }
            }
            Err(error) => {
                tracing::warn!(task = %arn, %error, "cannot inspect the task's containers")
            }
        }
        tokio::select! {
            () = notify.notified() => {}
            () = tokio::time::sleep(ecs.config.poll_interval) => {}
            () = ecs.shutdown.cancelled() => return Stop::shutdown(),
        }
    }
}

/// Records what the containers show; returns why the task must stop, if it must.
async fn observe(
    ecs: &Arc<Ecs>,
    record: &TaskRecord,
    essential: &[String],
    statuses: &[ContainerStatus],
) -> Option<Stop> {
    let health = task_health(essential, statuses);
    let exited = statuses.iter().find(|s| {
        essential.contains(&s.name)
            && matches!(
                s.state,
                ContainerState::Exited { .. } | ContainerState::Missing
            )
    });
    let changed = record.wire.health_status != health
        || record.wire.containers.iter().any(|c| {
            statuses
                .iter()
                .find(|s| s.name == c.name)
                .is_some_and(|s| health_word(s.health) != c.health_status)
        });
    let first_healthy = health == "HEALTHY" && record.state.healthy_at.is_none();
    let updated = if changed || first_healthy {
        update(ecs, &record.wire.task_arn, |r| {
            r.wire.health_status = health.to_owned();
            for container in &mut r.wire.containers {
                if let Some(s) = statuses.iter().find(|s| s.name == container.name) {
                    container.health_status = health_word(s.health).to_owned();
                }
            }
            if first_healthy {
                r.state.healthy_at = Some(model::now());
            }
        })
    } else {
        None
    };
    let current = updated.as_ref().unwrap_or(record);
    if let Some(container) = exited {
        return Some(Stop::failed(
            "EssentialContainerExited",
            match &container.state {
                ContainerState::Missing => format!(
                    "Essential container in task exited: {} was removed",
                    container.name
                ),
                _ => "Essential container in task exited".to_owned(),
            },
        ));
    }
    // What Cloud Map should say, reported whenever it does not yet (also after a crash between
    // a health change and its report): HEALTHY once healthy (or RUNNING without checks).
    let no_checks = statuses.iter().all(|s| s.health == ContainerHealth::None);
    if health == "HEALTHY" || (no_checks && current.state.healthy_at.is_some()) {
        report_health(ecs, current, true).await;
    }
    match health {
        "HEALTHY" if first_healthy || changed => became_healthy(ecs, current).await,
        "UNHEALTHY" => {
            report_health(ecs, current, false).await;
            // A service replaces unhealthy tasks; a standalone task only reports it.
            if current.state.service_arn.is_some() {
                return Some(Stop::failed(
                    "ServiceSchedulerInitiated",
                    "Task failed container health checks",
                ));
            }
        }
        _ => {}
    }
    None
}

/// Deregisters the task, retrying (1 s, 2 s … 30 s apart) until Cloud Map confirms: its
/// containers are not signalled while an instance still points at them. Only shutdown gives up
/// (the instance then outlives the server's containers, as the log says).
async fn deregister(ecs: &Ecs, arn: &str, registration: &Registration, instance: &str) {
    let mut pause = Duration::from_secs(1);
    loop {
        match ecs
            .cloudmap
            .deregister(&registration.region, &registration.service_id, instance)
            .await
        {
            Ok(()) => {
                update(ecs, arn, |r| {
                    if let Some(reg) = &mut r.state.registration {
                        reg.registered = false;
                    }
                });
                return;
            }
            Err(error) if ecs.is_stopping() => {
                tracing::error!(task = %arn, %error, "task not deregistered from Cloud Map before shutdown");
                return;
            }
            Err(error) => {
                tracing::warn!(task = %arn, %error, retry_in = ?pause, "task not deregistered yet; retrying");
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

/// Deregisters (before any container is signalled), stops and removes the containers, and
/// records STOPPED.
async fn finish(ecs: &Arc<Ecs>, arn: &str, stop: Stop) {
    let Some(record) = update(ecs, arn, |r| {
        // A stop asked for (StopTask, the scheduler) keeps its reason and is no failure; only the
        // driver's own findings (exits, failed checks, failed launches) count against the service.
        if r.wire.desired_status != status::STOPPED || r.wire.stopped_reason.is_none() {
            r.wire.stop_code = Some(stop.code.to_owned());
            r.wire.stopped_reason = Some(stop.reason.clone());
            r.state.failed = stop.failed;
        }
        r.wire.desired_status = status::STOPPED.to_owned();
        r.wire.last_status = status::DEACTIVATING.to_owned();
        r.wire.stopping_at = Some(model::now());
    }) else {
        return;
    };
    tracing::info!(task = %arn, code = stop.code, reason = %stop.reason, "task stopping");
    if let Some(registration) = record.state.registration.clone().filter(|r| r.registered) {
        deregister(ecs, arn, &registration, record.wire.id()).await;
    }
    update(ecs, arn, |r| {
        r.wire.last_status = status::STOPPING.to_owned()
    });
    let mut statuses = Vec::new();
    if let Some(handle) = &record.state.runtime_handle {
        // Shutdown waits for this too; a stop timeout bounds it.
        match tokio::time::timeout(Duration::from_secs(600), ecs.runtime.stop_task(handle)).await {
            Ok(Ok(found)) => statuses = found,
            Ok(Err(error)) => tracing::error!(task = %arn, %error, "containers not removed"),
            Err(_) => tracing::error!(task = %arn, "containers did not stop in 10 minutes"),
        }
    }
    let stopped = update(ecs, arn, |r| {
        r.wire.last_status = status::STOPPED.to_owned();
        r.wire.stopped_at = Some(model::now());
        for container in &mut r.wire.containers {
            container.last_status = status::STOPPED.to_owned();
            if let Some(ContainerStatus {
                state: ContainerState::Exited { code, reason },
                ..
            }) = statuses.iter().find(|s| s.name == container.name)
            {
                container.exit_code = Some(*code);
                container.reason = reason.clone();
            }
        }
    });
    if stop.failed
        && let Some(record) = stopped
        && let Some(service_arn) = &record.state.service_arn
    {
        let max_backoff = ecs.config.max_backoff;
        let deployment_id = record.state.deployment_id.clone();
        update_service(ecs, service_arn, |service| {
            service.consecutive_failures += 1;
            // The first replacement is immediate, then 1 s, 2 s, 4 s … up to the maximum.
            let exponent = service.consecutive_failures.saturating_sub(2).min(16);
            let delay = if service.consecutive_failures <= 1 {
                Duration::ZERO
            } else {
                Duration::from_secs(1u64 << exponent).min(max_backoff)
            };
            service.next_launch_at = model::now() + delay.as_secs_f64();
            if let Some(deployment) = service
                .deployments
                .iter_mut()
                .find(|d| Some(&d.id) == deployment_id.as_ref())
            {
                deployment.failed_tasks += 1;
            }
        });
    }
    tracing::info!(task = %arn, "task stopped");
}
