//! Namespaces: HTTP, private DNS and public DNS (spec §4).

use super::{NamespaceId, Region, Tags, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamespaceType {
    Http,
    DnsPrivate,
    DnsPublic,
}

impl NamespaceType {
    pub fn as_str(self) -> &'static str {
        match self {
            NamespaceType::Http => "HTTP",
            NamespaceType::DnsPrivate => "DNS_PRIVATE",
            NamespaceType::DnsPublic => "DNS_PUBLIC",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "HTTP" => Some(NamespaceType::Http),
            "DNS_PRIVATE" => Some(NamespaceType::DnsPrivate),
            "DNS_PUBLIC" => Some(NamespaceType::DnsPublic),
            _ => None,
        }
    }

    pub fn is_dns(self) -> bool {
        !matches!(self, NamespaceType::Http)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Namespace {
    pub id: NamespaceId,
    pub region: Region,
    pub name: String,
    /// The name DiscoverInstances looks the namespace up by; equal to `name` unless that was taken.
    pub http_name: String,
    pub kind: NamespaceType,
    pub description: Option<String>,
    /// The VPC a private namespace was created for (stored, echoed nowhere, as on AWS).
    pub vpc: Option<String>,
    /// DNS namespaces only: the SOA TTL used for negative caching.
    pub soa_ttl: Option<i64>,
    pub hosted_zone_id: Option<String>,
    pub creator_request_id: Option<String>,
    pub create_date: Timestamp,
    pub tags: Tags,
}
