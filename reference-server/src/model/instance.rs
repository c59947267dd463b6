//! Registered instances and their health (spec §6, §7).

use super::{Attributes, ServiceId, Timestamp};

pub const AWS_INSTANCE_IPV4: &str = "AWS_INSTANCE_IPV4";
pub const AWS_INSTANCE_IPV6: &str = "AWS_INSTANCE_IPV6";
pub const AWS_INSTANCE_PORT: &str = "AWS_INSTANCE_PORT";
pub const AWS_INSTANCE_CNAME: &str = "AWS_INSTANCE_CNAME";
pub const AWS_ALIAS_DNS_NAME: &str = "AWS_ALIAS_DNS_NAME";
pub const AWS_INIT_HEALTH_STATUS: &str = "AWS_INIT_HEALTH_STATUS";
pub const AWS_EC2_INSTANCE_ID: &str = "AWS_EC2_INSTANCE_ID";

/// The keys Cloud Map gives a meaning to; they do not count toward the 30 custom attributes (U5).
pub const RESERVED_ATTRIBUTES: [&str; 7] = [
    AWS_INSTANCE_IPV4,
    AWS_INSTANCE_IPV6,
    AWS_INSTANCE_PORT,
    AWS_INSTANCE_CNAME,
    AWS_ALIAS_DNS_NAME,
    AWS_INIT_HEALTH_STATUS,
    AWS_EC2_INSTANCE_ID,
];

/// `AWS_INSTANCE_PORT` as a port an SRV record can name and a health check can probe: 1 to
/// 65535. AWS refuses "0" for an SRV service ("A valid port number must be supplied.",
/// hashicorp/consul-aws#8), so port 0 is never published or probed either.
pub fn usable_port(value: &str) -> Option<u16> {
    value.parse::<u16>().ok().filter(|port| *port != 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthStatus {
    Healthy,
    Unhealthy,
    Unknown,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "HEALTHY",
            HealthStatus::Unhealthy => "UNHEALTHY",
            HealthStatus::Unknown => "UNKNOWN",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "HEALTHY" => Some(HealthStatus::Healthy),
            "UNHEALTHY" => Some(HealthStatus::Unhealthy),
            "UNKNOWN" => Some(HealthStatus::Unknown),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: String,
    pub service_id: ServiceId,
    pub attributes: Attributes,
    pub creator_request_id: Option<String>,
    pub create_date: Timestamp,
    /// The effective health status, as DiscoverInstances, GetInstancesHealthStatus and DNS see it.
    pub health: HealthStatus,
}

impl Instance {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("80", Some(80))]
    #[case("1", Some(1))]
    #[case("65535", Some(65535))]
    #[case("0", None)]
    #[case("65536", None)]
    #[case("-1", None)]
    #[case("http", None)]
    #[case("", None)]
    fn usable_ports_are_1_to_65535(#[case] value: &str, #[case] port: Option<u16>) {
        assert_eq!(usable_port(value), port, "{value:?}");
    }
}
