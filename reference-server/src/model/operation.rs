//! Asynchronous operations and the mutation each one carries until it completes (spec §3.3).

use super::service::{DnsRecord, HealthCheckConfig};
use super::{Instance, Namespace, NamespaceId, OperationId, Region, ServiceId, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationType {
    CreateNamespace,
    DeleteNamespace,
    UpdateNamespace,
    UpdateService,
    RegisterInstance,
    DeregisterInstance,
}

impl OperationType {
    pub const ALL: [OperationType; 6] = [
        OperationType::CreateNamespace,
        OperationType::DeleteNamespace,
        OperationType::UpdateNamespace,
        OperationType::UpdateService,
        OperationType::RegisterInstance,
        OperationType::DeregisterInstance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OperationType::CreateNamespace => "CREATE_NAMESPACE",
            OperationType::DeleteNamespace => "DELETE_NAMESPACE",
            OperationType::UpdateNamespace => "UPDATE_NAMESPACE",
            OperationType::UpdateService => "UPDATE_SERVICE",
            OperationType::RegisterInstance => "REGISTER_INSTANCE",
            OperationType::DeregisterInstance => "DEREGISTER_INSTANCE",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationStatus {
    Submitted,
    Pending,
    Success,
    Fail,
}

impl OperationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationStatus::Submitted => "SUBMITTED",
            OperationStatus::Pending => "PENDING",
            OperationStatus::Success => "SUCCESS",
            OperationStatus::Fail => "FAIL",
        }
    }

    /// Parses a status; `SUCCEED` is accepted as the alias the API docs misspell it as.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "SUBMITTED" => Some(OperationStatus::Submitted),
            "PENDING" => Some(OperationStatus::Pending),
            "SUCCESS" | "SUCCEED" => Some(OperationStatus::Success),
            "FAIL" => Some(OperationStatus::Fail),
            _ => None,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, OperationStatus::Success | OperationStatus::Fail)
    }
}

/// The change an operation makes once it runs. Kept (and persisted) while the operation is not
/// terminal, so that a restart finishes what was acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    CreateNamespace(Namespace),
    DeleteNamespace {
        namespace_id: NamespaceId,
    },
    UpdateNamespace {
        namespace_id: NamespaceId,
        description: Option<String>,
        soa_ttl: Option<i64>,
    },
    UpdateService {
        service_id: ServiceId,
        description: Option<String>,
        /// `None` leaves the records alone (HTTP services); `Some` sets the TTLs of these records.
        dns_records: Option<Vec<DnsRecord>>,
        /// `None` removes the active health check (omission deletes, spec §5.4); custom health
        /// is never changed by UpdateService.
        health_check: Option<HealthCheckConfig>,
    },
    RegisterInstance(Instance),
    DeregisterInstance {
        service_id: ServiceId,
        instance_id: String,
    },
    /// Changes nothing: the operation ends in FAIL with this reason. For a request AWS accepts
    /// and then fails in its operation (a second private DNS namespace of one name on one VPC,
    /// see `api/cloudmap/create_namespace.rs`); it still goes through SUBMITTED and PENDING.
    Fail {
        error_code: String,
        error_message: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub id: OperationId,
    pub region: Region,
    pub kind: OperationType,
    pub status: OperationStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub create_date: Timestamp,
    pub update_date: Timestamp,
    /// The idempotency token the request carried (CreatorRequestId or UpdaterRequestId).
    pub request_token: Option<String>,
    pub namespace_id: Option<NamespaceId>,
    pub service_id: Option<ServiceId>,
    pub instance_id: Option<String>,
    /// Present exactly while the operation is not terminal.
    pub mutation: Option<Mutation>,
}
