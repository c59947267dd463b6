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
    pub rdata: Box<[u8]>,
    pub target_ipv4: Option<[u8; 4]>,
    pub target_ipv6: Option<[u8; 16]>,
}

/// The records of one type at one name; `entries[..healthy]` are the healthy ones.
#[derive(Debug, Clone, Default)]
pub struct RecordSet {
    pub ttl: u32,
    pub entries: Vec<Entry>,
    pub healthy: usize,
}

impl RecordSet {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The per-instance A/AAAA records at `<instance-id>.<service>.<namespace>` (SRV targets).
#[derive(Debug, Clone)]
pub struct InstanceNode {
    pub ttl: u32,
    pub ipv4: Option<[u8; 4]>,
    pub ipv6: Option<[u8; 16]>,
}

#[derive(Debug, Clone)]
pub struct ServiceNode {
    pub policy: RoutingPolicy,
    pub a: RecordSet,
    pub aaaa: RecordSet,
    pub srv: RecordSet,
    pub cname: RecordSet,
    /// Keyed by the lower-case wire labels of the instance id.
    pub instances: HashMap<Box<[u8]>, InstanceNode>,
    /// Names between an instance and the service when instance ids contain dots.
    pub instance_ancestors: HashSet<Box<[u8]>>,
}

impl ServiceNode {
    fn has_records(&self) -> bool {
        !(self.a.is_empty() && self.aaaa.is_empty() && self.srv.is_empty() && self.cname.is_empty())
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

/// The records of one service (`None` when it has no DNS records at all: HTTP services, or no
/// instance with the attributes its record types need — its name is then NXDOMAIN).
pub fn build_service(
    registry: &Registry,
    service: &Service,
    apex: &[u8],
) -> Option<(Box<[u8]>, ServiceNode)> {
    let dns = service.dns.as_ref()?;
    let service_wire = name::to_wire(&service.name).filter(|wire| !wire.is_empty())?;
    let ttl_of = |kind: RecordType| {
        dns.records
            .iter()
            .find(|r| r.kind == kind)
            .map_or(0, |r| clamp_ttl(r.ttl))
    };
    let health_applies = service.health != ServiceHealth::None;
    let mut node = ServiceNode {
        policy: dns.routing_policy,
        a: RecordSet {
            ttl: ttl_of(RecordType::A),
            ..Default::default()
        },
        aaaa: RecordSet {
            ttl: ttl_of(RecordType::Aaaa),
            ..Default::default()
        },
        srv: RecordSet {
            ttl: ttl_of(RecordType::Srv),
            ..Default::default()
        },
        cname: RecordSet {
            ttl: ttl_of(RecordType::Cname),
            ..Default::default()
        },
        instances: HashMap::new(),
        instance_ancestors: HashSet::new(),
    };
    // Healthy entries first, each group in instance-id order.
    let mut unhealthy: [Vec<Entry>; 4] = Default::default();
    for instance in registry.instances(&service.id) {
        // Alias records point at load balancers; none is emulated, so they have no answer here.
        if instance.attributes.contains_key(AWS_ALIAS_DNS_NAME) {
            continue;
        }
        let healthy = !health_applies || instance.health != HealthStatus::Unhealthy;
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
            .and_then(|v| v.parse::<u16>().ok());
        let mut push = |slot: usize, set: &mut RecordSet, entry: Entry| {
            if healthy {
                set.entries.push(entry);
            } else {
                unhealthy[slot].push(entry);
            }
        };
        if dns.has(RecordType::A)
            && let Some(ip) = ipv4
        {
            push(
                0,
                &mut node.a,
                Entry {
                    rdata: ip.into(),
                    target_ipv4: None,
                    target_ipv6: None,
                },
            );
        }
        if dns.has(RecordType::Aaaa)
            && let Some(ip) = ipv6
        {
            push(
                1,
                &mut node.aaaa,
                Entry {
                    rdata: ip.into(),
                    target_ipv4: None,
                    target_ipv6: None,
                },
            );
        }
        if dns.has(RecordType::Cname)
            && let Some(target) = instance
                .attribute(AWS_INSTANCE_CNAME)
                .and_then(name::to_wire)
        {
            let mut rdata = target;
            rdata.push(0);
            push(
                3,
                &mut node.cname,
                Entry {
                    rdata: rdata.into(),
                    target_ipv4: None,
                    target_ipv6: None,
                },
            );
        }
        if dns.has(RecordType::Srv) && (ipv4.is_some() || ipv6.is_some()) {
            // An id that can't be a label (over 63 bytes between dots) can't be an SRV target.
            let (Some(port), Some(instance_wire)) = (port, name::to_wire(&instance.id)) else {
                continue;
            };
            let target_len = instance_wire.len() + service_wire.len() + apex.len() + 1;
            if target_len > name::MAX_NAME {
                continue;
            }
            let mut rdata = Vec::with_capacity(6 + target_len);
            rdata.extend_from_slice(&[0, 1, 0, 1]);
            rdata.extend_from_slice(&port.to_be_bytes());
            rdata.extend_from_slice(&instance_wire);
            rdata.extend_from_slice(&service_wire);
            rdata.extend_from_slice(apex);
            rdata.push(0);
            push(
                2,
                &mut node.srv,
                Entry {
                    rdata: rdata.into(),
                    target_ipv4: ipv4,
                    target_ipv6: ipv6,
                },
            );
            for ancestor in name::ancestors(&instance_wire) {
                node.instance_ancestors.insert(name::key(ancestor));
            }
            // Instance ids differing only in case share a DNS name; the first (in id order) wins.
            node.instances
                .entry(name::key(&instance_wire))
                .or_insert(InstanceNode {
                    ttl: node.srv.ttl,
                    ipv4,
                    ipv6,
                });
        }
    }
    for (set, rest) in [&mut node.a, &mut node.aaaa, &mut node.srv, &mut node.cname]
        .into_iter()
        .zip(unhealthy)
    {
        set.healthy = set.entries.len();
        set.entries.extend(rest);
    }
    node.has_records().then(|| (name::key(&service_wire), node))
}

fn zone_ancestors(services: &HashMap<Box<[u8]>, Arc<ServiceNode>>) -> HashSet<Box<[u8]>> {
    services
        .keys()
        .flat_map(|key| name::ancestors(key).map(name::key).collect::<Vec<_>>())
        .collect()
}

fn build_zone(
    registry: &Registry,
    namespace: &Namespace,
    serial: u32,
) -> Option<(Box<[u8]>, Zone)> {
    let apex = name::to_wire(&namespace.name)?;
    let soa_ttl = clamp_ttl(namespace.soa_ttl.unwrap_or(DEFAULT_SOA_TTL));
    let services: HashMap<Box<[u8]>, Arc<ServiceNode>> = registry
        .services_in_namespace(&namespace.id)
        .filter_map(|service| build_service(registry, service, &apex))
        .map(|(key, node)| (key, Arc::new(node)))
        .collect();
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
        match self
            .winner(registry, key)
            .and_then(|ns| build_zone(registry, ns, next_serial(previous_serial)))
        {
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
        let mut services: HashSet<ServiceId> = HashSet::new();
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
                    services.insert(service.id.clone());
                }
                Change::DeleteService(id) => {
                    services.insert(id.clone());
                }
                Change::PutInstance(instance) => {
                    services.insert(instance.service_id.clone());
                }
                Change::DeleteInstance { service_id, .. } => {
                    services.insert(service_id.clone());
                }
                Change::PutOperation(_) => {}
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
        // Services in zones that were not rebuilt whole: replace just their nodes.
        let mut edited: HashMap<Box<[u8]>, Zone> = HashMap::new();
        for id in services {
            let old_location = places.service_location.get(&id).cloned();
            let service = registry.all_services().find(|s| s.id == id);
            let new_zone_key =
                service.and_then(|s| places.zone_of_namespace.get(&s.namespace_id).cloned());
            for (zone_key, service_key) in old_location.iter() {
                if zone_keys.contains(zone_key) {
                    continue;
                }
                if let Some(zone) = zones.get(zone_key) {
                    edited
                        .entry(zone_key.clone())
                        .or_insert_with(|| (**zone).clone())
                        .services
                        .remove(service_key);
                }
            }
            places.service_location.remove(&id);
            let (Some(service), Some(zone_key)) = (service, new_zone_key) else {
                continue;
            };
            let Some(zone) = zones.get(&zone_key) else {
                continue;
            };
            if let Some(service_key) = name::to_wire(&service.name).map(|w| name::key(&w)) {
                places
                    .service_location
                    .insert(id.clone(), (zone_key.clone(), service_key));
            }
            if zone_keys.contains(&zone_key) {
                continue;
            }
            let Some(apex) = registry
                .all_namespaces()
                .find(|ns| ns.id == zone.namespace_id)
                .and_then(|ns| name::to_wire(&ns.name))
            else {
                continue;
            };
            let zone = edited
                .entry(zone_key.clone())
                .or_insert_with(|| (**zone).clone());
            if let Some((key, node)) = build_service(registry, service, &apex) {
                zone.services.insert(key, Arc::new(node));
            }
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
