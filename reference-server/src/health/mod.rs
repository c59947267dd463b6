//! Health checking that drives DNS and discovery (spec §5.3, §7).
//!
//! - Active checks for services with a `HealthCheckConfig`: every instance is probed once per
//!   `--health-interval` (start times spread over the interval), at most `--health-concurrency` at
//!   a time, each within `--health-timeout`. `FailureThreshold` consecutive results against the
//!   current status flip it; an instance's first result sets it from UNKNOWN at once.
//! - Reports from outside the probes — UpdateInstanceCustomHealthStatus with a propagation delay
//!   (`--custom-health-delay`, AWS waits about 30 s), and ECS container health, which the ECS
//!   task driver reports the same way for services with a HealthCheckCustomConfig — go through
//!   [`HealthHandle`].
//!
//! Every change is one registry write (durable, and in DNS and DiscoverInstances in the same
//! commit), one log line (instance, old → new, reason) and a metric.

mod probe;
mod targets;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::metrics::Metrics;
use crate::model::{HealthStatus, ServiceHealth, ServiceId, Timestamp};
use crate::store::{Change, Store};
use targets::{Key, Target, Targets};

#[derive(Debug, Clone)]
pub struct HealthConfig {
    pub interval: Duration,
    pub timeout: Duration,
    pub concurrency: usize,
    pub custom_delay: Duration,
}

/// A status reported from outside the probes.
#[derive(Debug)]
struct Report {
    key: Key,
    status: HealthStatus,
    reason: String,
    delay: Duration,
}

/// Reports health from outside the probes: custom health (with its propagation delay) and the
/// container health of ECS tasks.
#[derive(Debug, Clone)]
pub struct HealthHandle {
    reports: mpsc::UnboundedSender<Report>,
    custom_delay: Duration,
}

impl HealthHandle {
    /// A custom health status, effective after the configured propagation delay.
    pub fn custom(&self, service: ServiceId, instance: String, status: HealthStatus) {
        let report = Report {
            key: (service, instance),
            status,
            reason: "UpdateInstanceCustomHealthStatus".into(),
            delay: self.custom_delay,
        };
        let _ = self.reports.send(report);
    }

    /// A status observed elsewhere (e.g. a container health check), effective at once.
    pub fn report(
        &self,
        service: ServiceId,
        instance: String,
        status: HealthStatus,
        reason: String,
    ) {
        let _ = self.reports.send(Report {
            key: (service, instance),
            status,
            reason,
            delay: Duration::ZERO,
        });
    }

    pub fn custom_delay(&self) -> Duration {
        self.custom_delay
    }
}

/// Registers the target follower and spawns the checker into `tasks`.
pub fn start(
    store: &Store,
    config: HealthConfig,
    metrics: Arc<Metrics>,
    tasks: &mut JoinSet<()>,
    shutdown: CancellationToken,
) -> HealthHandle {
    let targets = Arc::new(Targets::default());
    store.follow(Arc::clone(&targets) as Arc<dyn crate::store::Follower>);
    let (sender, reports) = mpsc::unbounded_channel();
    let handle = HealthHandle {
        reports: sender,
        custom_delay: config.custom_delay,
    };
    let checker = Checker {
        store: store.clone(),
        targets,
        config,
        metrics,
        states: HashMap::new(),
        due: BinaryHeap::new(),
        pending: HashMap::new(),
        generation: 0,
    };
    tasks.spawn(checker.run(reports, shutdown));
    handle
}

struct ProbeState {
    target: Target,
    generation: u64,
    status: HealthStatus,
    /// Consecutive results that disagree with `status`.
    streak: u32,
}

struct Checker {
    store: Store,
    targets: Arc<Targets>,
    config: HealthConfig,
    metrics: Arc<Metrics>,
    states: HashMap<Key, ProbeState>,
    /// When each target is next probed (with the generation it was scheduled for).
    due: BinaryHeap<Reverse<(Instant, u64, Key)>>,
    /// Reported statuses waiting out the propagation delay.
    pending: HashMap<Key, (Instant, HealthStatus, String)>,
    generation: u64,
}

type ProbeResult = (Key, u64, Result<(), probe::Failure>);

impl Checker {
    async fn run(
        mut self,
        mut reports: mpsc::UnboundedReceiver<Report>,
        shutdown: CancellationToken,
    ) {
        let permits = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut probes: JoinSet<ProbeResult> = JoinSet::new();
        loop {
            self.sync(self.targets.take_changes());
            let next_probe = self.due.peek().map(|Reverse((at, _, _))| *at);
            let next_pending = self.pending.values().map(|(at, _, _)| *at).min();
            let wake = next_probe.into_iter().chain(next_pending).min();
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.targets.changed.notified() => {}
                () = sleep_until(wake) => {
                    self.launch_due(&mut probes, &permits);
                    self.apply_due_reports().await;
                }
                Some(report) = reports.recv() => self.receive(report).await,
                Some(joined) = probes.join_next(), if !probes.is_empty() => {
                    if let Ok(result) = joined {
                        self.record(result).await;
                    }
                }
            }
        }
        probes.shutdown().await;
    }

    /// Adopts changed targets: new or changed ones start over (spread over one interval),
    /// vanished ones stop.
    fn sync(&mut self, changes: targets::Changes) {
        let now = Instant::now();
        let interval = self.config.interval;
        for (key, target) in changes {
            let Some(target) = target else {
                self.states.remove(&key);
                continue;
            };
            let unchanged = self
                .states
                .get(&key)
                .is_some_and(|state| state.target.same_probe(&target));
            if unchanged {
                continue;
            }
            self.generation += 1;
            let jitter = interval.mul_f64(rand::rng().random::<f64>());
            self.due
                .push(Reverse((now + jitter, self.generation, key.clone())));
            let status = target.status;
            self.states.insert(
                key,
                ProbeState {
                    target,
                    generation: self.generation,
                    status,
                    streak: 0,
                },
            );
        }
    }

    fn launch_due(&mut self, probes: &mut JoinSet<ProbeResult>, permits: &Arc<Semaphore>) {
        let now = Instant::now();
        while let Some(Reverse((at, generation, _))) = self.due.peek() {
            if *at > now {
                break;
            }
            let (at, generation) = (*at, *generation);
            let Some(Reverse((_, _, key))) = self.due.pop() else {
                break;
            };
            let Some(state) = self.states.get(&key).filter(|s| s.generation == generation) else {
                continue;
            };
            // Next round is one interval after this one was due, whatever this probe takes. A probe
            // still waiting out its timeout does not hold the next one back: like Route 53's
            // independent checkers, rounds may overlap, so a hanging target fails once per interval.
            self.due.push(Reverse((
                at + self.config.interval,
                generation,
                key.clone(),
            )));
            let (kind, address, path) = (
                state.target.kind,
                state.target.address,
                state.target.path.clone(),
            );
            let timeout = self.config.timeout;
            let permits = Arc::clone(permits);
            probes.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let result = probe::probe(kind, address, &path, timeout).await;
                (key, generation, result)
            });
        }
    }

    /// The threshold state machine.
    async fn record(&mut self, (key, generation, result): ProbeResult) {
        let Some(state) = self
            .states
            .get_mut(&key)
            .filter(|s| s.generation == generation)
        else {
            return;
        };
        self.metrics.health_probe(result.is_ok());
        let observed = if result.is_ok() {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unhealthy
        };
        let first = state.status == HealthStatus::Unknown;
        let flip = if first {
            true
        } else if state.status == observed {
            state.streak = 0;
            false
        } else {
            state.streak += 1;
            state.streak >= state.target.threshold
        };
        if !flip {
            return;
        }
        state.streak = 0;
        state.status = observed;
        let reason = change_reason(first, state.target.threshold, &result);
        let registered = state.target.registered;
        self.write(key, observed, reason, Expect::Probed(registered))
            .await;
    }

    async fn receive(&mut self, report: Report) {
        if report.delay.is_zero() {
            self.pending.remove(&report.key);
            self.write(report.key, report.status, report.reason, Expect::Custom)
                .await;
            return;
        }
        // AWS: the change happens after the delay; repeating it does not hurry it, and asking
        // for the current status within the delay cancels it.
        let current = {
            let registry = self.store.read();
            registry
                .instance(&report.key.0, &report.key.1)
                .map(|i| i.health)
        };
        match self.pending.get(&report.key) {
            Some((_, status, _)) if *status == report.status => {}
            _ if current == Some(report.status) => {
                self.pending.remove(&report.key);
            }
            _ => {
                self.pending.insert(
                    report.key,
                    (Instant::now() + report.delay, report.status, report.reason),
                );
            }
        }
    }

    async fn apply_due_reports(&mut self) {
        let now = Instant::now();
        let due: Vec<Key> = self
            .pending
            .iter()
            .filter(|(_, (at, _, _))| *at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            if let Some((_, status, reason)) = self.pending.remove(&key) {
                self.write(key, status, reason, Expect::Custom).await;
            }
        }
    }

    /// Records a status in the registry, if the instance is still the one it is about.
    async fn write(&self, key: Key, status: HealthStatus, reason: String, expect: Expect) {
        let metrics = Arc::clone(&self.metrics);
        let result = self
            .store
            .write(move |registry| {
                let (service_id, instance_id) = &key;
                let Some(service) = registry.service_by_id(service_id) else {
                    return Ok(((), Vec::new()));
                };
                let Some(instance) = registry.instance(service_id, instance_id) else {
                    return Ok(((), Vec::new()));
                };
                let applies = match expect {
                    Expect::Probed(registered) => {
                        matches!(service.health, ServiceHealth::Probed(_))
                            && instance.create_date == registered
                    }
                    Expect::Custom => service.health == ServiceHealth::Custom,
                };
                if !applies || instance.health == status {
                    return Ok::<_, std::convert::Infallible>(((), Vec::new()));
                }
                tracing::info!(
                    service = %service_id, instance = %instance_id,
                    from = instance.health.as_str(), to = status.as_str(), %reason,
                    "instance health changed"
                );
                metrics.health_change(status);
                let mut instance = instance.clone();
                instance.health = status;
                Ok(((), vec![Change::PutInstance(instance)]))
            })
            .await;
        if let Err(crate::store::WriteError::Store(error)) = result {
            tracing::error!(%error, "a health status could not be recorded; the next probe retries");
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    Probed(Timestamp),
    Custom,
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Why a probe result changed an instance's status, for the log: the first probe of an
/// instance (UNKNOWN) decides at once; afterwards `threshold` consecutive results against the
/// current status flip it.
fn change_reason(first: bool, threshold: u32, result: &Result<(), String>) -> String {
    match (first, result) {
        (true, Ok(())) => "first probe succeeded".to_owned(),
        (true, Err(why)) => format!("first probe failed: {why}"),
        (false, Ok(())) if threshold == 1 => "probe succeeded".to_owned(),
        (false, Ok(())) => format!("{threshold} consecutive successful probes"),
        (false, Err(why)) if threshold == 1 => format!("probe failed: {why}"),
        (false, Err(why)) => format!("{threshold} consecutive failed probes; last: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::change_reason;
    use rstest::rstest;

    #[rstest]
    #[case(true, 3, Ok(()), "first probe succeeded")]
    #[case(
        true,
        3,
        Err("connection refused"),
        "first probe failed: connection refused"
    )]
    #[case(false, 3, Ok(()), "3 consecutive successful probes")]
    #[case(
        false,
        3,
        Err("timed out"),
        "3 consecutive failed probes; last: timed out"
    )]
    #[case(false, 1, Ok(()), "probe succeeded")]
    #[case(false, 1, Err("HTTP 503"), "probe failed: HTTP 503")]
    fn the_logged_reason_says_what_decided(
        #[case] first: bool,
        #[case] threshold: u32,
        #[case] result: Result<(), &str>,
        #[case] expected: &str,
    ) {
        let result = result.map_err(str::to_owned);
        assert_eq!(change_reason(first, threshold, &result), expected);
    }
}
