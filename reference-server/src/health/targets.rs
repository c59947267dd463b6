//! Which instances are probed, and how: a store follower that keeps the probe targets of every
//! instance of every service with a `HealthCheckConfig` (`AWS_INSTANCE_IPV4`, `AWS_INSTANCE_PORT`
//! and `ResourcePath`), and wakes the scheduler when they change. Probing stops as soon as an
//! instance or its service is gone.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::model::instance::{AWS_INSTANCE_IPV4, AWS_INSTANCE_PORT};
use crate::model::{
    HealthCheckType, HealthStatus, Instance, Service, ServiceHealth, ServiceId, Timestamp,
};
use crate::store::{Change, Follower, Registry};

pub type Key = (ServiceId, String);

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub kind: HealthCheckType,
    pub address: SocketAddr,
    pub path: String,
    pub threshold: u32,
    /// Identifies the registration: re-registering starts the checks over.
    pub registered: Timestamp,
    /// The status the registry holds (where the state machine starts).
    pub status: HealthStatus,
}

impl Target {
    /// The same check of the same registration: everything but the status it last recorded
    /// (which the checker's own writes change).
    pub fn same_probe(&self, other: &Target) -> bool {
        (
            self.kind,
            self.address,
            &self.path,
            self.threshold,
            self.registered,
        ) == (
            other.kind,
            other.address,
            &other.path,
            other.threshold,
            other.registered,
        )
    }
}

#[derive(Default)]
pub struct Targets {
    state: Mutex<State>,
    pub changed: Notify,
}

#[derive(Default)]
struct State {
    targets: HashMap<Key, Target>,
    /// The health configuration each service's targets were built from.
    configs: HashMap<ServiceId, ServiceHealth>,
    /// Keys changed since the scheduler last looked (it then reads just those).
    changed: std::collections::HashSet<Key>,
}

/// What changed since the last look: each key with its target now (`None`: stop probing it).
pub type Changes = Vec<(Key, Option<Target>)>;

fn target(service: &Service, instance: &Instance) -> Option<Target> {
    let ServiceHealth::Probed(check) = &service.health else {
        return None;
    };
    let ip: IpAddr = instance.attribute(AWS_INSTANCE_IPV4)?.parse().ok()?;
    let port = crate::model::instance::usable_port(instance.attribute(AWS_INSTANCE_PORT)?)?;
    Some(Target {
        kind: check.kind,
        address: SocketAddr::new(ip, port),
        path: check
            .resource_path
            .clone()
            .unwrap_or_else(|| "/".to_owned()),
        threshold: u32::try_from(check.failure_threshold.clamp(1, 10)).unwrap_or(1),
        registered: instance.create_date,
        status: instance.health,
    })
}

impl Targets {
    /// The targets changed since the last call (O(changes), not O(targets)).
    pub fn take_changes(&self) -> Changes {
        let mut state = self.state.lock();
        let keys: Vec<Key> = state.changed.drain().collect();
        keys.into_iter()
            .map(|key| {
                let target = state.targets.get(&key).cloned();
                (key, target)
            })
            .collect()
    }
}

impl State {
    fn set_service(&mut self, registry: &Registry, id: &ServiceId) {
        let gone: Vec<Key> = self
            .targets
            .keys()
            .filter(|(service, _)| service == id)
            .cloned()
            .collect();
        for key in gone {
            self.targets.remove(&key);
            self.changed.insert(key);
        }
        self.configs.remove(id);
        if let Some(service) = registry.service_by_id(id) {
            self.configs.insert(id.clone(), service.health.clone());
            for instance in registry.instances(id) {
                if let Some(target) = target(service, instance) {
                    self.targets
                        .insert((id.clone(), instance.id.clone()), target);
                }
            }
        }
    }
}

impl Follower for Targets {
    fn rebuild(&self, registry: &Registry) {
        let mut state = self.state.lock();
        let old: Vec<Key> = state.targets.keys().cloned().collect();
        state.changed.extend(old);
        state.targets.clear();
        state.configs.clear();
        for service in registry.all_services() {
            state.set_service(registry, &service.id);
        }
        drop(state);
        self.changed.notify_one();
    }

    fn apply(&self, registry: &Registry, changes: &[Change]) {
        let mut state = self.state.lock();
        for change in changes {
            match change {
                // A revision bump leaves the health configuration alone: nothing to do.
                Change::PutService(service)
                    if state.configs.get(&service.id) != Some(&service.health) =>
                {
                    state.set_service(registry, &service.id);
                }
                Change::DeleteService(id) => state.set_service(registry, id),
                Change::PutInstance(instance) => {
                    let key = (instance.service_id.clone(), instance.id.clone());
                    let fresh = registry
                        .service_by_id(&instance.service_id)
                        .and_then(|s| target(s, instance));
                    // Our own status writes come back here: keep probing the same target.
                    let same = match (state.targets.get(&key), &fresh) {
                        (Some(a), Some(b)) => a.same_probe(b),
                        (None, None) => true,
                        _ => false,
                    };
                    if !same {
                        match fresh {
                            Some(target) => state.targets.insert(key.clone(), target),
                            None => state.targets.remove(&key),
                        };
                        state.changed.insert(key);
                    }
                }
                Change::DeleteInstance {
                    service_id,
                    instance_id,
                } => {
                    let key = (service_id.clone(), instance_id.clone());
                    if state.targets.remove(&key).is_some() {
                        state.changed.insert(key);
                    }
                }
                _ => {}
            }
        }
        let moved = !state.changed.is_empty();
        drop(state);
        if moved {
            self.changed.notify_one();
        }
    }
}
