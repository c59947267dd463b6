//! Services: their DNS configuration, health configuration and attributes (spec §5).

use super::{Attributes, NamespaceId, Region, ServiceId, Tags, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordType {
    A,
    Aaaa,
    Srv,
    Cname,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Srv => "SRV",
            RecordType::Cname => "CNAME",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "A" => Some(RecordType::A),
            "AAAA" => Some(RecordType::Aaaa),
            "SRV" => Some(RecordType::Srv),
            "CNAME" => Some(RecordType::Cname),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingPolicy {
    Multivalue,
    Weighted,
}

impl RoutingPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingPolicy::Multivalue => "MULTIVALUE",
            RoutingPolicy::Weighted => "WEIGHTED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "MULTIVALUE" => Some(RoutingPolicy::Multivalue),
            "WEIGHTED" => Some(RoutingPolicy::Weighted),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsRecord {
    pub kind: RecordType,
    pub ttl: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    pub routing_policy: RoutingPolicy,
    pub records: Vec<DnsRecord>,
}

impl DnsConfig {
    pub fn has(&self, kind: RecordType) -> bool {
        self.records.iter().any(|record| record.kind == kind)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheckType {
    Http,
    Https,
    Tcp,
}

impl HealthCheckType {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthCheckType::Http => "HTTP",
            HealthCheckType::Https => "HTTPS",
            HealthCheckType::Tcp => "TCP",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "HTTP" => Some(HealthCheckType::Http),
            "HTTPS" => Some(HealthCheckType::Https),
            "TCP" => Some(HealthCheckType::Tcp),
            _ => None,
        }
    }
}

/// A Route 53 style active health check (probed by the health checker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckConfig {
    pub kind: HealthCheckType,
    /// `None` for TCP; HTTP(S) default to `/`.
    pub resource_path: Option<String>,
    pub failure_threshold: i64,
}

/// How the health of a service's instances is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceHealth {
    /// No health configuration: every instance is routed to, status `UNKNOWN`.
    None,
    /// Active probes.
    Probed(HealthCheckConfig),
    /// `HealthCheckCustomConfig`: the status is whatever UpdateInstanceCustomHealthStatus said last.
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceType {
    Http,
    DnsHttp,
    Dns,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::Http => "HTTP",
            ServiceType::DnsHttp => "DNS_HTTP",
            ServiceType::Dns => "DNS",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub id: ServiceId,
    pub region: Region,
    pub namespace_id: NamespaceId,
    pub name: String,
    pub description: Option<String>,
    pub kind: ServiceType,
    pub dns: Option<DnsConfig>,
    pub health: ServiceHealth,
    pub creator_request_id: Option<String>,
    pub create_date: Timestamp,
    pub tags: Tags,
    pub attributes: Attributes,
    /// Bumped by every completed RegisterInstance and DeregisterInstance, never by health (spec §9).
    pub instances_revision: i64,
}
