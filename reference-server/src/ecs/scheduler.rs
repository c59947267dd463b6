//! The service scheduler: for every service, keeps `desiredCount` tasks of the PRIMARY deployment
//! running, replaces tasks that stop (after a backoff when they keep failing), rolls older
//! deployments out within `maximumPercent`/`minimumHealthyPercent`, and drains deleted services.
//! It only records decisions (new PROVISIONING tasks, desiredStatus STOPPED); task drivers carry
//! them out. One pass runs on every wake-up and at least every second.

use std::sync::Arc;
use std::time::Duration;

use super::Ecs;
use super::model::{
    self, Cluster, Container, DRAINING, INACTIVE, ServiceEvent, Task, TaskDefinition, TaskRecord,
    TaskState, status,
};
use super::store::{EcsChange, EcsState};

const TICK: Duration = Duration::from_secs(1);
/// How long STOPPED tasks stay visible (ECS: about an hour).
const STOPPED_RETENTION: Duration = Duration::from_secs(3600);
const PRUNE_PERIOD: Duration = Duration::from_secs(60);
/// ECS keeps the newest 100 events of a service.
const MAX_EVENTS: usize = 100;

pub async fn run(ecs: &Arc<Ecs>) {
    // Forgetting old STOPPED tasks scans every task: once a minute, not on every pass.
    let mut last_prune: Option<tokio::time::Instant> = None;
    loop {
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_PERIOD) {
            prune(ecs, model::now() - STOPPED_RETENTION.as_secs_f64());
            last_prune = Some(tokio::time::Instant::now());
        }
        pass(ecs);
        tokio::select! {
            biased;
            () = ecs.shutdown.cancelled() => return,
            () = ecs.wake.notified() => {}
            () = tokio::time::sleep(TICK) => {}
        }
        if ecs.is_stopping() {
            return;
        }
    }
}

/// A task as the scheduler sees it.
struct Seen {
    arn: String,
    deployment: Option<String>,
    running: bool,
    /// Counts toward `minimumHealthyPercent`: RUNNING and not unhealthy, and HEALTHY if the
    /// task has health checks.
    healthy: bool,
    stopping: bool,
}

fn pass(ecs: &Arc<Ecs>) {
    let services: Vec<String> = ecs.store.read(|s| {
        s.services
            .values()
            .filter(|svc| svc.status != INACTIVE)
            .map(|svc| svc.service_arn.clone())
            .collect()
    });
    for arn in services {
        let launched = ecs.store.write(|state| Ok(plan(ecs, state, &arn)));
        match launched {
            Ok(tasks) => {
                for task in tasks {
                    ecs.launch(task);
                }
            }
            Err(error) => tracing::error!(service = %arn, %error, "scheduler pass not saved"),
        }
        for task in ecs.store.read(|s| {
            s.live_tasks_of(&arn)
                .filter(|t| t.wire.desired_status == status::STOPPED)
                .map(|t| t.wire.task_arn.clone())
                .collect::<Vec<_>>()
        }) {
            ecs.wake_task(&task);
        }
    }
}

/// Forgets tasks that have been STOPPED since before `cutoff`.
fn prune(ecs: &Ecs, cutoff: f64) {
    let result = ecs.store.write(|state| {
        let old: Vec<EcsChange> = state
            .tasks
            .values()
            .filter(|t| t.wire.is_stopped() && t.wire.stopped_at.is_some_and(|at| at < cutoff))
            .map(|t| EcsChange::DeleteTask(t.wire.task_arn.clone()))
            .collect();
        Ok(((), old))
    });
    if let Err(error) = result {
        tracing::error!(%error, "stopped tasks not pruned");
    }
}

/// Decides one service's pass: returns the tasks to launch and the changes to save.
fn plan(ecs: &Ecs, state: &EcsState, arn: &str) -> (Vec<String>, Vec<EcsChange>) {
    let Some(original) = state.services.get(arn) else {
        return (Vec::new(), Vec::new());
    };
    let mut service = original.clone();
    let mut changes = Vec::new();
    let mut launched = Vec::new();
    let now = model::now();
    let seen: Vec<Seen> = state
        .live_tasks_of(arn)
        .map(|t| Seen {
            arn: t.wire.task_arn.clone(),
            deployment: t.state.deployment_id.clone(),
            running: t.wire.last_status == status::RUNNING,
            healthy: t.wire.last_status == status::RUNNING
                && t.wire.health_status != "UNHEALTHY"
                && t.state.healthy_at.is_some(),
            stopping: t.wire.desired_status == status::STOPPED,
        })
        .collect();
    let stop = |task_arn: &str, reason: String, changes: &mut Vec<EcsChange>| {
        if let Some(record) = state.tasks.get(task_arn) {
            let mut record = record.clone();
            record
                .wire
                .request_stop("ServiceSchedulerInitiated", reason);
            changes.push(EcsChange::PutTask(record));
        }
    };
    let mut events = Vec::new();

    if service.status == DRAINING {
        let live: Vec<&Seen> = seen.iter().filter(|t| !t.stopping).collect();
        for task in &live {
            stop(&task.arn, "Service deleted".to_owned(), &mut changes);
        }
        if seen.is_empty() {
            service.status = INACTIVE.to_owned();
            for deployment in &mut service.deployments {
                deployment.status = INACTIVE.to_owned();
            }
        }
    } else {
        let Some(primary) = service.deployments.first().cloned() else {
            return (Vec::new(), Vec::new());
        };
        let desired = service.desired_count;
        let max_total = (u64::from(desired)
            * u64::from(service.deployment_configuration.maximum_percent)
            / 100)
            .max(u64::from(desired)) as usize;
        let min_healthy = (u64::from(desired)
            * u64::from(service.deployment_configuration.minimum_healthy_percent))
        .div_ceil(100) as usize;
        let is_primary = |t: &&Seen| t.deployment.as_deref() == Some(primary.id.as_str());
        let primary_live: Vec<&Seen> = seen
            .iter()
            .filter(|t| !t.stopping)
            .filter(is_primary)
            .collect();
        let old_live: Vec<&Seen> = seen
            .iter()
            .filter(|t| !t.stopping)
            .filter(|t| !is_primary(t))
            .collect();
        // Scale down: the newest-started, least-advanced tasks go first.
        if primary_live.len() > desired as usize {
            let mut extra: Vec<&&Seen> = primary_live.iter().collect();
            extra.sort_by_key(|t| (t.healthy, t.running));
            for task in extra.iter().take(primary_live.len() - desired as usize) {
                stop(
                    &task.arn,
                    format!("Scaling activity initiated by (deployment {})", primary.id),
                    &mut changes,
                );
                events.push(format!(
                    "(service {}) has stopped 1 running tasks: (task {}).",
                    service.service_name,
                    model::task_id(&task.arn)
                ));
            }
        }
        // Launch what the primary deployment lacks, within maximumPercent and the backoff.
        let live_total = seen.len();
        let mut room = max_total.saturating_sub(live_total);
        let mut missing = (desired as usize).saturating_sub(primary_live.len());
        if missing > 0 && room > 0 && now < service.next_launch_at {
            missing = 0;
        }
        let definition = state
            .task_definitions
            .get(&primary.task_definition)
            .cloned();
        let cluster = state.clusters.get(&service.cluster_arn).cloned();
        let mut started_ids = Vec::new();
        if let (Some(definition), Some(cluster)) = (definition, cluster) {
            while missing > 0 && room > 0 {
                let record = new_task(
                    ecs,
                    &cluster,
                    &definition,
                    format!("service:{}", service.service_name),
                    Some(primary.id.clone()),
                    service.launch_type.clone(),
                    TaskState {
                        service_arn: Some(service.service_arn.clone()),
                        deployment_id: Some(primary.id.clone()),
                        registry: primary.service_registries.first().cloned(),
                        ..TaskState::default()
                    },
                );
                started_ids.push(record.wire.id().to_owned());
                launched.push(record.wire.task_arn.clone());
                changes.push(EcsChange::PutTask(record));
                missing -= 1;
                room -= 1;
            }
        }
        if !started_ids.is_empty() {
            events.push(format!(
                "(service {}) has started {} tasks: {}.",
                service.service_name,
                started_ids.len(),
                started_ids
                    .iter()
                    .map(|id| format!("(task {id})"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        // Roll old deployments out while enough tasks stay healthy.
        let mut healthy = seen.iter().filter(|t| !t.stopping && t.healthy).count();
        let mut old: Vec<&&Seen> = old_live.iter().collect();
        old.sort_by_key(|t| (t.healthy, t.running));
        for task in old {
            let counts = usize::from(task.healthy);
            if healthy - counts < min_healthy && task.healthy {
                break;
            }
            healthy -= counts;
            stop(
                &task.arn,
                format!("Scaling activity initiated by (deployment {})", primary.id),
                &mut changes,
            );
            events.push(format!(
                "(service {}) has stopped 1 running tasks: (task {}).",
                service.service_name,
                model::task_id(&task.arn)
            ));
        }
        // Counts, rollout state, and deployments with nothing left.
        let stopping: Vec<String> = changes
            .iter()
            .filter_map(|c| match c {
                EcsChange::PutTask(t) if t.wire.desired_status == status::STOPPED => {
                    Some(t.wire.task_arn.clone())
                }
                _ => None,
            })
            .collect();
        for deployment in &mut service.deployments {
            let mine: Vec<&Seen> = seen
                .iter()
                .filter(|t| t.deployment.as_deref() == Some(deployment.id.as_str()))
                .collect();
            let running = mine
                .iter()
                .filter(|t| t.running && !stopping.contains(&t.arn) && !t.stopping)
                .count() as u32;
            let pending = mine
                .iter()
                .filter(|t| !t.running && !t.stopping && !stopping.contains(&t.arn))
                .count() as u32
                + if deployment.id == primary.id {
                    launched.len() as u32
                } else {
                    0
                };
            if deployment.running_count != running || deployment.pending_count != pending {
                deployment.running_count = running;
                deployment.pending_count = pending;
                deployment.updated_at = now;
            }
        }
        let primary_only = seen.iter().all(|t| is_primary(&t) || t.stopping);
        service.deployments.retain(|d| {
            d.id == primary.id
                || seen
                    .iter()
                    .any(|t| t.deployment.as_deref() == Some(d.id.as_str()))
        });
        if let Some(first) = service.deployments.first_mut() {
            let steady = first.running_count == desired
                && first.pending_count == 0
                && primary_only
                && seen
                    .iter()
                    .filter(|t| is_primary(t) && !t.stopping)
                    .all(|t| t.healthy);
            if steady && first.rollout_state != "COMPLETED" {
                first.rollout_state = "COMPLETED".to_owned();
                first.rollout_state_reason = format!("ECS deployment {} completed.", first.id);
                events.push(format!(
                    "(service {}) has reached a steady state.",
                    service.service_name
                ));
            }
            // Replacing failed tasks is not a new rollout: a COMPLETED state stays.
        }
    }
    for message in events {
        service.events.insert(
            0,
            ServiceEvent {
                id: super::ids::uuid(),
                created_at: now,
                message,
            },
        );
    }
    service.events.truncate(MAX_EVENTS);
    if original != &service {
        changes.push(EcsChange::PutService(service));
    }
    (launched, changes)
}

/// A new PROVISIONING task of `definition` in `cluster` (RunTask and the scheduler).
pub fn new_task(
    ecs: &Ecs,
    cluster: &Cluster,
    definition: &TaskDefinition,
    group: String,
    started_by: Option<String>,
    launch_type: Option<String>,
    state: TaskState,
) -> TaskRecord {
    let id = super::ids::task_id();
    let task_arn = ecs.arn(
        &cluster.region,
        &format!("task/{}/{id}", cluster.cluster_name),
    );
    let containers = definition
        .container_definitions
        .iter()
        .map(|c| Container {
            container_arn: ecs.arn(
                &cluster.region,
                &format!(
                    "container/{}/{id}/{}",
                    cluster.cluster_name,
                    super::ids::uuid()
                ),
            ),
            task_arn: task_arn.clone(),
            name: c.name.clone(),
            image: c.image.clone(),
            last_status: status::PENDING.to_owned(),
            exit_code: None,
            reason: None,
            network_bindings: Vec::new(),
            network_interfaces: Vec::new(),
            health_status: "UNKNOWN".to_owned(),
            runtime_id: None,
            cpu: c.cpu.to_string(),
            memory: c.memory.map(|m| m.to_string()),
        })
        .collect();
    TaskRecord {
        wire: Task {
            task_arn,
            cluster_arn: cluster.cluster_arn.clone(),
            task_definition_arn: definition.task_definition_arn.clone(),
            group,
            started_by,
            last_status: status::PROVISIONING.to_owned(),
            desired_status: status::RUNNING.to_owned(),
            health_status: "UNKNOWN".to_owned(),
            launch_type,
            cpu: definition.cpu.clone(),
            memory: definition.memory.clone(),
            containers,
            attachments: Vec::new(),
            availability_zone: format!("{}a", cluster.region),
            created_at: model::now(),
            started_at: None,
            stopping_at: None,
            stopped_at: None,
            stop_code: None,
            stopped_reason: None,
            version: 1,
            overrides: serde_json::json!({"containerOverrides": [], "inferenceAcceleratorOverrides": []}),
        },
        state,
    }
}
