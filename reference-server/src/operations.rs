//! Runs accepted asynchronous operations to completion: SUBMITTED → (PENDING) → SUCCESS or FAIL.
//!
//! With `--operation-delay 0` (the default) an operation finishes in the very commit that accepts
//! it: the handler's write holds the finished operation (SUCCESS, or FAIL with the reason) and its
//! effect, so any request after the answer sees both — GetOperation never shows SUBMITTED, and a
//! second update of the same resource never meets an unfinished one (`DuplicateRequest`). With a
//! delay, the API layer commits the operation as SUBMITTED with the mutation it carries before it
//! answers; this runner waits the delay, marks it PENDING, waits again and applies the mutation in
//! a separate write, like AWS's seconds-long operations. Unfinished operations found at start-up
//! are resumed, so an acknowledged request is never lost to a crash.

use std::convert::Infallible;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::model::{
    HealthStatus, Mutation, Operation, OperationId, OperationStatus, Region, ServiceHealth,
    Timestamp,
};
use crate::store::{Change, Registry, Store};

/// Accepts operations: finishes them at once (no delay) or hands them to the runner.
#[derive(Debug, Clone)]
pub struct OperationQueue {
    sender: mpsc::UnboundedSender<OperationId>,
    immediate: bool,
}

impl OperationQueue {
    /// A queue for operations that take `delay` in each of SUBMITTED and PENDING.
    pub fn new(delay: Duration) -> (OperationQueue, mpsc::UnboundedReceiver<OperationId>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let immediate = delay.is_zero();
        (OperationQueue { sender, immediate }, receiver)
    }

    /// The changes that accept `operation` (a new, SUBMITTED one carrying its mutation), for the
    /// write closure that created it: without a delay, the finished operation and its effect;
    /// with one, the operation as SUBMITTED, for `submit` to hand over once committed.
    pub fn accept(&self, registry: &Registry, operation: Operation) -> Vec<Change> {
        if self.immediate {
            let now = operation.create_date;
            finish(registry, &operation, now)
        } else {
            vec![Change::PutOperation(operation)]
        }
    }

    /// Schedules a committed SUBMITTED operation (nothing to do for one `accept` finished); if
    /// the runner has stopped (shutdown), it stays SUBMITTED on disk and resumes at the next start.
    pub fn submit(&self, id: OperationId) {
        if !self.immediate {
            let _ = self.sender.send(id);
        }
    }
}

pub async fn run(
    store: Store,
    delay: Duration,
    mut receiver: mpsc::UnboundedReceiver<OperationId>,
    shutdown: CancellationToken,
) {
    let mut in_flight = JoinSet::new();
    for id in store.read().unfinished_operations() {
        in_flight.spawn(drive(store.clone(), id, delay));
    }
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            received = receiver.recv() => match received {
                Some(id) => { in_flight.spawn(drive(store.clone(), id, delay)); }
                None => break,
            },
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
    // Whatever is still waiting stays SUBMITTED/PENDING on disk and resumes at the next start.
    in_flight.shutdown().await;
}

/// Operations forgotten per write, so that pruning never holds the writer for long.
const PRUNE_BATCH: usize = 5000;

/// Forgets finished operations `retention` after they finished, in bounded batches, so memory and
/// the state file do not grow with every write a long-running server accepts.
pub async fn prune(store: Store, retention: Duration, shutdown: CancellationToken) {
    if retention.is_zero() {
        return;
    }
    let period = (retention / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
        loop {
            let cutoff = Timestamp(Timestamp::now().0.saturating_sub(retention_ms));
            let pruned = store
                .write(move |registry| {
                    let expired = registry.expired_operations(cutoff, PRUNE_BATCH);
                    let count = expired.len();
                    Ok::<_, Infallible>((
                        count,
                        expired.into_iter().map(Change::DeleteOperation).collect(),
                    ))
                })
                .await;
            match pruned {
                Ok(PRUNE_BATCH) => continue,
                Ok(count) => {
                    if count > 0 {
                        tracing::debug!(
                            count,
                            "finished operations past their retention were forgotten"
                        );
                    }
                    break;
                }
                Err(_) => break,
            }
        }
    }
}

async fn drive(store: Store, id: OperationId, delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
        let pending_id = id.clone();
        let marked = store
            .write(move |registry| {
                Ok::<_, Infallible>(((), mark_pending(registry, &pending_id, Timestamp::now())))
            })
            .await;
        if marked.is_err() {
            return;
        }
        tokio::time::sleep(delay).await;
    }
    let result = store
        .write(move |registry| Ok::<_, Infallible>(((), complete(registry, &id, Timestamp::now()))))
        .await;
    if let Err(crate::store::WriteError::Store(error)) = result {
        tracing::error!(%error, "an operation could not be completed; it resumes at the next start");
    }
}

fn mark_pending(registry: &Registry, id: &OperationId, now: Timestamp) -> Vec<Change> {
    match registry.operation_by_id(id) {
        Some(op) if op.status == OperationStatus::Submitted => {
            let mut op = op.clone();
            op.status = OperationStatus::Pending;
            op.update_date = now.max(op.create_date);
            vec![Change::PutOperation(op)]
        }
        _ => Vec::new(),
    }
}

/// Applies an unfinished operation's mutation and records the outcome, in one set of changes.
pub fn complete(registry: &Registry, id: &OperationId, now: Timestamp) -> Vec<Change> {
    match registry.operation_by_id(id) {
        Some(op) => finish(registry, op, now),
        None => Vec::new(),
    }
}

/// The changes that finish `op` (stored or about to be): its mutation's effect and the operation
/// as SUCCESS, or — when the mutation can no longer be made — the operation as FAIL alone.
fn finish(registry: &Registry, op: &Operation, now: Timestamp) -> Vec<Change> {
    let Some(mutation) = &op.mutation else {
        return Vec::new();
    };
    let mut done = op.clone();
    done.mutation = None;
    done.update_date = now.max(op.create_date);
    if let Mutation::Fail {
        error_code,
        error_message,
    } = mutation
    {
        // Accepted only to fail, with the reason AWS gives (see `Mutation::Fail`).
        done.status = OperationStatus::Fail;
        done.error_code = Some(error_code.clone());
        done.error_message = Some(error_message.clone());
        return vec![Change::PutOperation(done)];
    }
    let mut changes = match apply(registry, &op.region, mutation) {
        Ok(changes) => {
            done.status = OperationStatus::Success;
            changes
        }
        Err(message) => {
            tracing::warn!(operation = %op.id, kind = op.kind.as_str(), %message, "operation failed");
            done.status = OperationStatus::Fail;
            done.error_code = Some("INTERNAL_FAILURE".to_owned());
            done.error_message = Some(message);
            Vec::new()
        }
    };
    changes.push(Change::PutOperation(done));
    changes
}

/// The changes a mutation makes, or why it can no longer be made. The API layer checked the
/// request when it was accepted and keeps conflicting requests out while it is unfinished, so a
/// failure here means the world changed in a way those guards do not cover.
fn apply(registry: &Registry, region: &Region, mutation: &Mutation) -> Result<Vec<Change>, String> {
    match mutation {
        Mutation::CreateNamespace(namespace) => Ok(vec![Change::PutNamespace(namespace.clone())]),
        Mutation::DeleteNamespace { namespace_id } => {
            registry
                .namespace(region, namespace_id)
                .ok_or_else(|| format!("namespace {namespace_id} no longer exists"))?;
            if registry.service_count(namespace_id) > 0 {
                return Err(format!("namespace {namespace_id} contains services"));
            }
            Ok(vec![Change::DeleteNamespace(namespace_id.clone())])
        }
        Mutation::UpdateNamespace {
            namespace_id,
            description,
            soa_ttl,
        } => {
            let mut namespace = registry
                .namespace(region, namespace_id)
                .ok_or_else(|| format!("namespace {namespace_id} no longer exists"))?
                .clone();
            if let Some(description) = description {
                namespace.description = Some(description.clone());
            }
            if let Some(ttl) = soa_ttl {
                namespace.soa_ttl = Some(*ttl);
            }
            Ok(vec![Change::PutNamespace(namespace)])
        }
        Mutation::UpdateService {
            service_id,
            description,
            dns_records,
            health_check,
        } => {
            let mut service = registry
                .service(region, service_id)
                .ok_or_else(|| format!("service {service_id} no longer exists"))?
                .clone();
            if let Some(description) = description {
                service.description = Some(description.clone());
            }
            if let (Some(records), Some(dns)) = (dns_records, service.dns.as_mut()) {
                for record in &mut dns.records {
                    if let Some(new) = records.iter().find(|r| r.kind == record.kind) {
                        record.ttl = new.ttl;
                    }
                }
            }
            let mut changes = Vec::new();
            if service.health != ServiceHealth::Custom {
                let health = health_check
                    .clone()
                    .map_or(ServiceHealth::None, ServiceHealth::Probed);
                if health != service.health {
                    // A new or removed check starts every instance over: not yet checked.
                    for instance in registry.instances(service_id) {
                        if instance.health != HealthStatus::Unknown {
                            let mut instance = instance.clone();
                            instance.health = HealthStatus::Unknown;
                            changes.push(Change::PutInstance(instance));
                        }
                    }
                    service.health = health;
                }
            }
            changes.insert(0, Change::PutService(service));
            Ok(changes)
        }
        Mutation::RegisterInstance(instance) => {
            let mut service = registry
                .service(region, &instance.service_id)
                .ok_or_else(|| format!("service {} no longer exists", instance.service_id))?
                .clone();
            service.instances_revision += 1;
            Ok(vec![
                Change::PutInstance(instance.clone()),
                Change::PutService(service),
            ])
        }
        Mutation::DeregisterInstance {
            service_id,
            instance_id,
        } => {
            let mut service = registry
                .service(region, service_id)
                .ok_or_else(|| format!("service {service_id} no longer exists"))?
                .clone();
            registry
                .instance(service_id, instance_id)
                .ok_or_else(|| format!("instance {instance_id} is no longer registered"))?;
            service.instances_revision += 1;
            Ok(vec![
                Change::DeleteInstance {
                    service_id: service_id.clone(),
                    instance_id: instance_id.clone(),
                },
                Change::PutService(service),
            ])
        }
        // `finish` records these itself; reaching here would be a bug, not a world change.
        Mutation::Fail { error_message, .. } => Err(error_message.clone()),
    }
}
