//! Domain types of the Cloud Map registry. No serde here: the wire format lives in `api/*/wire.rs`.

pub mod ids;
pub mod instance;
pub mod namespace;
pub mod operation;
pub mod service;

pub use ids::{NamespaceId, OperationId, ServiceId};
pub use instance::{HealthStatus, Instance};
pub use namespace::{Namespace, NamespaceType};
pub use operation::{Mutation, Operation, OperationStatus, OperationType};
pub use service::{
    DnsConfig, DnsRecord, HealthCheckConfig, HealthCheckType, RecordType, RoutingPolicy, Service,
    ServiceHealth, ServiceType,
};

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch: AWS JSON timestamps carry millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        Timestamp(i64::try_from(millis).unwrap_or(i64::MAX))
    }

    /// Seconds as a float, which is how awsJson 1.1 writes timestamps.
    pub fn as_epoch_seconds(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

/// Tags of a namespace or service. Keys are unique and case-sensitive; order is by key.
pub type Tags = BTreeMap<String, String>;

/// Attributes of an instance or a service, by key.
pub type Attributes = BTreeMap<String, String>;

/// Where a resource lives: state is partitioned by region and owned by one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(pub String);

impl Region {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Builds the ARN of a Cloud Map resource: `arn:aws:servicediscovery:{region}:{account}:{kind}/{id}`.
pub fn arn(region: &Region, account: &str, kind: &str, id: &str) -> String {
    format!(
        "arn:aws:servicediscovery:{}:{account}:{kind}/{id}",
        region.0
    )
}
