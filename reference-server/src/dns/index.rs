//! The DNS view of the registry: one [`Zone`] per DNS namespace with the record sets Route 53
//! would hold for Cloud Map (spec §8.1), kept in step with every commit as a store
//! [`Follower`]. Readers (the query path) load the current [`DnsIndex`] without locking; a commit
//! rebuilds only the services and zones it touched and swaps in a new index.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use super::name;
use super::persistent::{ShardedMap, Slots};
use crate::model::instance::{
    AWS_ALIAS_DNS_NAME, AWS_INSTANCE_CNAME, AWS_INSTANCE_IPV4, AWS_INSTANCE_IPV6, AWS_INSTANCE_PORT,
};
use crate::model::{
    HealthStatus, Namespace, NamespaceId, RecordType, Region, RoutingPolicy, Service,
    ServiceHealth, ServiceId, Timestamp,
};
use crate::store::{Change, Follower, Registry};

/// The SOA TTL of a DNS namespace that has none recorded (spec U2).
const DEFAULT_SOA_TTL: i64 = 15;
/// The primary server and mailbox in our SOA records: a reserved TLD, so nobody mistakes them
/// for real servers (Route 53 names its own `ns-*.awsdns-*` hosts here).
const PRIMARY_SERVER: &str = "ns-1.cloudmap-reference.invalid";
const HOSTMASTER: &str = "hostmaster.cloudmap-reference.invalid";

/// One record's data and, for SRV, the addresses of its target (for the additional section).
#[derive(Debug, Clone)]
pub struct Entry {
    pub rdata: Arc<[u8]>,
    pub target_ipv4: Option<[u8; 4]>,
    pub target_ipv6: Option<[u8; 16]>,
    /// The instance this record is for (to follow it when the set is compacted).
    owner: Arc<str>,
}

/// The records of one type at one name, healthy and unhealthy kept apart.
#[derive(Debug, Clone, Default)]
pub struct RecordSet {
    pub ttl: u32,
    pub healthy: Slots<Entry>,
    pub unhealthy: Slots<Entry>,
}

impl RecordSet {
    pub fn is_empty(&self) -> bool {
        self.healthy.is_empty() && self.unhealthy.is_empty()
    }

    /// What answers draw from: the healthy records, or all records when none is healthy
    /// (Route 53 then answers as if all were healthy).
    pub fn pool(&self) -> &Slots<Entry> {
        if self.healthy.is_empty() {
            &self.unhealthy
        } else {
            &self.healthy
        }
    }

    fn slots_mut(&mut self, healthy: bool) -> &mut Slots<Entry> {
        if healthy {
            &mut self.healthy
        } else {
            &mut self.unhealthy
        }
    }
}

/// The per-instance A/AAAA records at `<instance-id>.<service>.<namespace>` (SRV targets).
#[derive(Debug, Clone)]
pub struct InstanceNode {
    pub ttl: u32,
    pub ipv4: Option<[u8; 4]>,
    pub ipv6: Option<[u8; 16]>,
    owner: Arc<str>,
}

#[derive(Debug, Clone)]
pub struct ServiceNode {
    pub policy: RoutingPolicy,
    pub a: RecordSet,
    pub aaaa: RecordSet,
    pub srv: RecordSet,
    pub cname: RecordSet,
    /// Keyed by the lower-case wire labels of the instance id.
    pub instances: ShardedMap<Arc<[u8]>, InstanceNode>,
    /// Names between an instance and the service when instance ids contain dots (with counts).
    pub instance_ancestors: ShardedMap<Box<[u8]>, u32>,
}

impl ServiceNode {
    fn has_records(&self) -> bool {
        !(self.a.is_empty() && self.aaaa.is_empty() && self.srv.is_empty() && self.cname.is_empty())
    }

    fn set_mut(&mut self, slot: usize) -> &mut RecordSet {
        match slot {
            0 => &mut self.a,
            1 => &mut self.aaaa,
            2 => &mut self.srv,
            _ => &mut self.cname,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Zone {
    pub namespace_id: NamespaceId,
    pub soa_ttl: u32,
    pub soa_rdata: Box<[u8]>,
    pub ns_rdata: Box<[u8]>,
    pub serial: u32,
    /// Keyed by the lower-case wire labels of the service name, relative to the zone.
    pub services: HashMap<Box<[u8]>, Arc<ServiceNode>>,
    /// Names that exist only because a longer service name is below them (`_tcp` for `_x._tcp`).
    pub ancestors: HashSet<Box<[u8]>>,
}

#[derive(Debug, Clone, Default)]
pub struct DnsIndex {
    /// Keyed by the lower-case wire labels of the namespace name.
    pub zones: HashMap<Box<[u8]>, Arc<Zone>>,
}

fn clamp_ttl(ttl: i64) -> u32 {
    u32::try_from(ttl.max(0)).unwrap_or(u32::MAX)
}

fn soa_rdata(serial: u32, minimum: u32) -> Box<[u8]> {
    let mut rdata = Vec::with_capacity(96);
    for part in [PRIMARY_SERVER, HOSTMASTER] {
        rdata.extend_from_slice(&name::to_wire(part).unwrap_or_default());
        rdata.push(0);
    }
    for value in [serial, 7200, 900, 1_209_600, minimum] {
        rdata.extend_from_slice(&value.to_be_bytes());
    }
    rdata.into_boxed_slice()
}

fn ns_rdata() -> Box<[u8]> {
    let mut rdata = name::to_wire(PRIMARY_SERVER).unwrap_or_default();
    rdata.push(0);
    rdata.into_boxed_slice()
}

/// The records one instance contributes to its service (A, AAAA, SRV, CNAME).
#[derive(Debug, Clone, Default)]
struct InstanceRecords {
    healthy: bool,
    entries: [Option<Entry>; 4],
    target: Option<Target>,
}

/// An SRV target's name key and node, and the names between it and the service.
type Target = (Arc<[u8]>, InstanceNode, Vec<Box<[u8]>>);

/// What is needed to encode a service's instances: its DNS configuration and names.
struct ServiceShape<'s> {
    service: &'s Service,
    dns: &'s crate::model::DnsConfig,
    service_wire: Vec<u8>,
    apex: &'s [u8],
}

impl<'s> ServiceShape<'s> {
    fn of(service: &'s Service, apex: &'s [u8]) -> Option<Self> {
        let dns = service.dns.as_ref()?;
        let service_wire = name::to_wire(&service.name).filter(|wire| !wire.is_empty())?;
        Some(ServiceShape {
            service,
            dns,
            service_wire,
            apex,
        })
    }

    fn ttl(&self, kind: RecordType) -> u32 {
        self.dns
            .records
            .iter()
            .find(|r| r.kind == kind)
            .map_or(0, |r| clamp_ttl(r.ttl))
    }

    fn empty_node(&self) -> ServiceNode {
        let set = |kind| RecordSet {
            ttl: self.ttl(kind),
            ..Default::default()
        };
        ServiceNode {
            policy: self.dns.routing_policy,
            a: set(RecordType::A),
            aaaa: set(RecordType::Aaaa),
            srv: set(RecordType::Srv),
            cname: set(RecordType::Cname),
            instances: ShardedMap::default(),
            instance_ancestors: ShardedMap::default(),
        }
    }

    fn encode(&self, instance: &crate::model::Instance) -> InstanceRecords {
        let mut records = InstanceRecords::default();
        // Alias records point at load balancers; none is emulated, so they have no answer here.
        if instance.attributes.contains_key(AWS_ALIAS_DNS_NAME) {
            return records;
        }
        let owner: Arc<str> = Arc::from(instance.id.as_str());
        records.healthy = self.service.health == ServiceHealth::None
            || instance.health != HealthStatus::Unhealthy;
        let ipv4 = instance
            .attribute(AWS_INSTANCE_IPV4)
            .and_then(|v| v.parse::<Ipv4Addr>().ok())
            .map(|ip| ip.octets());
        let ipv6 = instance
            .attribute(AWS_INSTANCE_IPV6)
            .and_then(|v| v.parse::<Ipv6Addr>().ok())
            .map(|ip| ip.octets());
        let port = instance
            .attribute(AWS_INSTANCE_PORT)
            .and_then(crate::model::instance::usable_port);
        let entry = |rdata: &[u8]| Entry {
            rdata: Arc::from(rdata),
            target_ipv4: None,
            target_ipv6: None,
            owner: Arc::clone(&owner),
        };
        if let (true, Some(ip)) = (self.dns.has(RecordType::A), ipv4) {
            records.entries[0] = Some(entry(&ip));
        }
        if let (true, Some(ip)) = (self.dns.has(RecordType::Aaaa), ipv6) {
            records.entries[1] = Some(entry(&ip));
        }
        if self.dns.has(RecordType::Cname)
            && let Some(mut target) = instance
                .attribute(AWS_INSTANCE_CNAME)
                .and_then(name::to_wire)
        {
            target.push(0);
            records.entries[3] = Some(entry(&target));
        }
        // An id that can't be a label (over 63 bytes between dots) can't be an SRV target.
        let instance_wire = name::to_wire(&instance.id);
        if let (true, Some(port), Some(instance_wire)) =
            (self.dns.has(RecordType::Srv), port, instance_wire)
        {
            let target_len = instance_wire.len() + self.service_wire.len() + self.apex.len() + 1;
            if (ipv4.is_some() || ipv6.is_some()) && target_len <= name::MAX_NAME {
                let mut rdata = Vec::with_capacity(6 + target_len);
                rdata.extend_from_slice(&[0, 1, 0, 1]);
                rdata.extend_from_slice(&port.to_be_bytes());
                rdata.extend_from_slice(&instance_wire);
                rdata.extend_from_slice(&self.service_wire);
                rdata.extend_from_slice(self.apex);
                rdata.push(0);
                records.entries[2] = Some(Entry {
                    rdata: Arc::from(rdata),
                    target_ipv4: ipv4,
                    target_ipv6: ipv6,
                    owner: Arc::clone(&owner),
                });
                let ancestors = name::ancestors(&instance_wire).map(name::key).collect();
                let node = InstanceNode {
                    ttl: self.ttl(RecordType::Srv),
                    ipv4,
                    ipv6,
                    owner,
                };
                records.target = Some((Arc::from(name::key(&instance_wire)), node, ancestors));
            }
        }
        records
    }
}

/// Where one instance's records sit in its service's node.
#[derive(Debug, Clone, Default)]
struct Placed {
    healthy: bool,
    slots: [Option<usize>; 4],
    target: Option<Arc<[u8]>>,
    ancestors: Vec<Box<[u8]>>,
}

/// The follower's private copy of one service's node, plus where each instance sits in it, so
/// that a commit moves only the instances it changed.
#[derive(Debug, Clone)]
struct ServiceState {
    shape: Shape,
    node: ServiceNode,
    placed: HashMap<String, Placed>,
}

impl ServiceState {
    fn build(registry: &Registry, service: &Service, apex: &[u8]) -> Option<ServiceState> {
        let shape = ServiceShape::of(service, apex)?;
        let mut state = ServiceState {
            shape: Shape::of(service),
            node: shape.empty_node(),
            placed: HashMap::new(),
        };
        for instance in registry.instances(&service.id) {
            state.add(&instance.id, shape.encode(instance));
        }
        Some(state)
    }

    fn remove(&mut self, id: &str) {
        let Some(placed) = self.placed.remove(id) else {
            return;
        };
        for (kind, slot) in placed.slots.iter().enumerate() {
            let Some(index) = *slot else { continue };
            let moved = self
                .node
                .set_mut(kind)
                .slots_mut(placed.healthy)
                .swap_remove(index)
                .map(|e| Arc::clone(&e.owner));
            if let Some(owner) = moved
                && let Some(other) = self.placed.get_mut(&*owner)
            {
                other.slots[kind] = Some(index);
            }
        }
        if let Some(key) = placed.target
            && self
                .node
                .instances
                .get(&key)
                .is_some_and(|node| &*node.owner == id)
        {
            self.node.instances.remove(&key);
        }
        for ancestor in placed.ancestors {
            let count = self
                .node
                .instance_ancestors
                .entry_or_insert_with(ancestor.clone(), || 1);
            *count -= 1;
            if *count == 0 {
                self.node.instance_ancestors.remove(&ancestor);
            }
        }
    }

    fn add(&mut self, id: &str, records: InstanceRecords) {
        let mut placed = Placed {
            healthy: records.healthy,
            ..Placed::default()
        };
        for (kind, entry) in records.entries.into_iter().enumerate() {
            if let Some(entry) = entry {
                placed.slots[kind] = Some(
                    self.node
                        .set_mut(kind)
                        .slots_mut(records.healthy)
                        .push(entry),
                );
            }
        }
        if let Some((key, target, ancestors)) = records.target {
            // Ids differing only in case share a DNS name; the one registered first keeps it.
            if !self.node.instances.contains_key(&key) {
                self.node.instances.insert(Arc::clone(&key), target);
            }
            placed.target = Some(key);
            for ancestor in &ancestors {
                *self
                    .node
                    .instance_ancestors
                    .entry_or_insert_with(ancestor.clone(), || 0) += 1;
            }
            placed.ancestors = ancestors;
        }
        self.placed.insert(id.to_owned(), placed);
    }
}

fn zone_ancestors(services: &HashMap<Box<[u8]>, Arc<ServiceNode>>) -> HashSet<Box<[u8]>> {
    services
        .keys()
        .flat_map(|key| name::ancestors(key).map(name::key).collect::<Vec<_>>())
        .collect()
}

/// Builds a zone, keeping each of its services' state in `states`.
fn build_zone(
    registry: &Registry,
    namespace: &Namespace,
    serial: u32,
    states: &mut HashMap<ServiceId, ServiceState>,
) -> Option<(Box<[u8]>, Zone)> {
    let apex = name::to_wire(&namespace.name)?;
    let soa_ttl = clamp_ttl(namespace.soa_ttl.unwrap_or(DEFAULT_SOA_TTL));
    let mut services = HashMap::new();
    for service in registry.services_in_namespace(&namespace.id) {
        let Some(state) = ServiceState::build(registry, service, &apex) else {
            continue;
        };
        if state.node.has_records()
            && let Some(wire) = name::to_wire(&service.name)
        {
            services.insert(name::key(&wire), Arc::new(state.node.clone()));
        }
        states.insert(service.id.clone(), state);
    }
    let zone = Zone {
        namespace_id: namespace.id.clone(),
        soa_ttl,
        soa_rdata: soa_rdata(serial, soa_ttl),
        ns_rdata: ns_rdata(),
        serial,
        ancestors: zone_ancestors(&services),
        services,
    };
    Some((name::key(&apex), zone))
}

/// Which regions' namespaces DNS serves, and which wins when two regions have a DNS namespace of
/// the same name: the earlier region in `priority`, then the older namespace.
#[derive(Debug, Clone)]
pub struct RegionPolicy {
    /// Empty: every region.
    pub only: Vec<Region>,
    pub priority: Vec<Region>,
}

impl RegionPolicy {
    fn serves(&self, region: &Region) -> bool {
        self.only.is_empty() || self.only.contains(region)
    }

    fn rank(&self, namespace: &Namespace) -> (usize, Timestamp, NamespaceId) {
        let position = self
            .priority
            .iter()
            .position(|r| r == &namespace.region)
            .unwrap_or(usize::MAX);
        (position, namespace.create_date, namespace.id.clone())
    }
}

/// Keeps a [`DnsIndex`] in step with the registry.
pub struct DnsFollower {
    index: Arc<ArcSwap<DnsIndex>>,
    regions: RegionPolicy,
    /// Touched only on the store's writer thread (and at `rebuild`); the mutex keeps it `Sync`.
    places: Mutex<Places>,
}

/// Where a service's records are: its zone's key and its own key in that zone.
type Location = (Box<[u8]>, Box<[u8]>);

#[derive(Default)]
struct Places {
    /// The zone key each serving namespace answers for.
    zone_of_namespace: HashMap<NamespaceId, Box<[u8]>>,
    /// Where each service's records are: zone key and service key.
    service_location: HashMap<ServiceId, Location>,
    /// Every served service's node and where its instances sit in it.
    states: HashMap<ServiceId, ServiceState>,
}

/// What of a service its encoded records depend on; a `PutService` that leaves it alone (the
/// revision bump of every registration) re-encodes nothing.
#[derive(Debug, Clone, PartialEq)]
struct Shape {
    name: String,
    dns: Option<crate::model::DnsConfig>,
    health_applies: bool,
}

impl Shape {
    fn of(service: &Service) -> Shape {
        Shape {
            name: service.name.clone(),
            dns: service.dns.clone(),
            health_applies: service.health != ServiceHealth::None,
        }
    }
}

/// What a commit changed in a service: the service itself (re-encoded whole if its shape
/// changed) and which of its instances.
#[derive(Default)]
struct Touched {
    service: bool,
    instances: Vec<String>,
}

fn next_serial(previous: u32) -> u32 {
    let now = u32::try_from(Timestamp::now().0 / 1000).unwrap_or(u32::MAX);
    now.max(previous.wrapping_add(1))
}

impl DnsFollower {
    pub fn new(index: Arc<ArcSwap<DnsIndex>>, regions: RegionPolicy) -> Self {
        DnsFollower {
            index,
            regions,
            places: Mutex::new(Places::default()),
        }
    }

    /// The namespace that answers for `zone_key`, if any.
    fn winner<'r>(&self, registry: &'r Registry, zone_key: &[u8]) -> Option<&'r Namespace> {
        registry
            .all_namespaces()
            .filter(|ns| ns.kind.is_dns() && self.regions.serves(&ns.region))
            .filter(|ns| name::to_wire(&ns.name).is_some_and(|wire| *name::key(&wire) == *zone_key))
            .min_by_key(|ns| self.regions.rank(ns))
    }

    fn place_zone(&self, places: &mut Places, registry: &Registry, key: &[u8], zone: &Zone) {
        places.zone_of_namespace.retain(|_, k| **k != *key);
        places
            .zone_of_namespace
            .insert(zone.namespace_id.clone(), key.into());
        places.service_location.retain(|_, (k, _)| **k != *key);
        for service in registry.services_in_namespace(&zone.namespace_id) {
            if let Some(service_key) = name::to_wire(&service.name).map(|w| name::key(&w)) {
                places
                    .service_location
                    .insert(service.id.clone(), (key.into(), service_key));
            }
        }
    }

    fn rebuild_zone_key(
        &self,
        places: &mut Places,
        registry: &Registry,
        zones: &mut HashMap<Box<[u8]>, Arc<Zone>>,
        key: &[u8],
    ) {
        let previous_serial = zones.get(key).map_or(0, |zone| zone.serial);
        // Forget the services that answered here; the winner's are cached again below.
        let previous: Vec<ServiceId> = places
            .service_location
            .iter()
            .filter(|(_, (k, _))| **k == *key)
            .map(|(id, _)| id.clone())
            .collect();
        for id in previous {
            places.states.remove(&id);
        }
        let built = self.winner(registry, key).and_then(|ns| {
            build_zone(
                registry,
                ns,
                next_serial(previous_serial),
                &mut places.states,
            )
        });
        match built {
            Some((key, zone)) => {
                self.place_zone(places, registry, &key, &zone);
                zones.insert(key, Arc::new(zone));
            }
            None => {
                zones.remove(key);
                places.zone_of_namespace.retain(|_, k| **k != *key);
                places.service_location.retain(|_, (k, _)| **k != *key);
            }
        }
    }
}

impl Follower for DnsFollower {
    fn rebuild(&self, registry: &Registry) {
        let mut places = self.places.lock();
        *places = Places::default();
        let keys: HashSet<Box<[u8]>> = registry
            .all_namespaces()
            .filter(|ns| ns.kind.is_dns())
            .filter_map(|ns| name::to_wire(&ns.name).map(|wire| name::key(&wire)))
            .collect();
        let mut zones = HashMap::new();
        for key in keys {
            self.rebuild_zone_key(&mut places, registry, &mut zones, &key);
        }
        self.index.store(Arc::new(DnsIndex { zones }));
    }

    fn apply(&self, registry: &Registry, changes: &[Change]) {
        let mut places = self.places.lock();
        let mut zone_keys: HashSet<Box<[u8]>> = HashSet::new();
        let mut services: HashMap<ServiceId, Touched> = HashMap::new();
        for change in changes {
            match change {
                Change::PutNamespace(ns) => {
                    if let Some(previous) = places.zone_of_namespace.get(&ns.id) {
                        zone_keys.insert(previous.clone());
                    }
                    if ns.kind.is_dns()
                        && let Some(wire) = name::to_wire(&ns.name)
                    {
                        zone_keys.insert(name::key(&wire));
                    }
                }
                Change::DeleteNamespace(id) => {
                    if let Some(previous) = places.zone_of_namespace.get(id) {
                        zone_keys.insert(previous.clone());
                    }
                }
                Change::PutService(service) => {
                    services.entry(service.id.clone()).or_default().service = true;
                }
                Change::DeleteService(id) => {
                    services.entry(id.clone()).or_default().service = true;
                }
                Change::PutInstance(instance) => {
                    services
                        .entry(instance.service_id.clone())
                        .or_default()
                        .instances
                        .push(instance.id.clone());
                }
                Change::DeleteInstance {
                    service_id,
                    instance_id,
                } => {
                    services
                        .entry(service_id.clone())
                        .or_default()
                        .instances
                        .push(instance_id.clone());
                }
                Change::PutOperation(_) | Change::DeleteOperation(_) => {}
            }
        }
        if zone_keys.is_empty() && services.is_empty() {
            return;
        }
        let current = self.index.load_full();
        let mut zones = current.zones.clone();
        for key in &zone_keys {
            self.rebuild_zone_key(&mut places, registry, &mut zones, key);
        }
        // Services in zones that were not rebuilt whole: replace just their nodes, re-encoding
        // only the instances that changed unless the service itself did.
        let mut edited: HashMap<Box<[u8]>, Zone> = HashMap::new();
        for (id, touched) in &services {
            let service = registry.service_by_id(id);
            let zone_key =
                service.and_then(|s| places.zone_of_namespace.get(&s.namespace_id).cloned());
            if zone_key.as_ref().is_some_and(|key| zone_keys.contains(key)) {
                continue; // its zone was rebuilt whole above
            }
            // Take the service's old node out of its zone; it goes back in below if it still
            // has records.
            if let Some((old_zone, old_key)) = places.service_location.remove(id)
                && !zone_keys.contains(&old_zone)
                && let Some(zone) = zones.get(&old_zone)
            {
                edited
                    .entry(old_zone)
                    .or_insert_with(|| (**zone).clone())
                    .services
                    .remove(&old_key);
            }
            let (Some(service), Some(zone_key)) = (service, zone_key) else {
                places.states.remove(id);
                continue;
            };
            let Some(apex) = registry
                .namespace_by_id(&service.namespace_id)
                .and_then(|ns| name::to_wire(&ns.name))
            else {
                continue;
            };
            let state = match places.states.get_mut(id) {
                Some(state) if state.shape == Shape::of(service) => {
                    if let Some(shape) = ServiceShape::of(service, &apex) {
                        for instance_id in &touched.instances {
                            state.remove(instance_id);
                            if let Some(instance) = registry.instance(id, instance_id) {
                                state.add(instance_id, shape.encode(instance));
                            }
                        }
                    }
                    Some(&*state)
                }
                _ => match ServiceState::build(registry, service, &apex) {
                    Some(state) => Some(
                        &*places
                            .states
                            .entry(id.clone())
                            .insert_entry(state)
                            .into_mut(),
                    ),
                    None => {
                        places.states.remove(id);
                        None
                    }
                },
            };
            let node = state
                .filter(|state| state.node.has_records())
                .map(|state| Arc::new(state.node.clone()));
            let (Some(key), Some(base)) = (
                name::to_wire(&service.name).map(|wire| name::key(&wire)),
                zones.get(&zone_key),
            ) else {
                continue;
            };
            let zone = edited
                .entry(zone_key.clone())
                .or_insert_with(|| (**base).clone());
            if let Some(node) = node {
                zone.services.insert(key.clone(), node);
            }
            places.service_location.insert(id.clone(), (zone_key, key));
        }
        for (key, mut zone) in edited {
            zone.ancestors = zone_ancestors(&zone.services);
            zone.serial = next_serial(zone.serial);
            zone.soa_rdata = soa_rdata(zone.serial, zone.soa_ttl);
            zones.insert(key, Arc::new(zone));
        }
        self.index.store(Arc::new(DnsIndex { zones }));
    }
}
