//! What the Cloud Map operations share: the request context, id-or-ARN resolution, pagination
//! tokens, model → wire conversions, and building asynchronous operations.

use super::{Op, wire};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::model::{
    self, Instance, Mutation, Namespace, NamespaceId, NamespaceType, Operation, OperationId,
    OperationStatus, OperationType, Region, Service, ServiceHealth, ServiceId, Timestamp,
};
use crate::store::Registry;

/// Who is asking and where: one request's view of the server.
pub struct Context<'a> {
    pub state: &'a AppState,
    pub region: Region,
}

impl Context<'_> {
    pub fn account(&self) -> &str {
        &self.state.config.account_id
    }

    pub fn arn(&self, kind: &str, id: &str) -> String {
        model::arn(&self.region, self.account(), kind, id)
    }

    /// The id inside `value`, which is either a bare id or an ARN of `kind` in this account and
    /// region (an ARN elsewhere names nothing we hold).
    fn resolve<'v>(&self, value: &'v str, kind: &str) -> Option<&'v str> {
        if !value.starts_with("arn:") {
            return Some(value);
        }
        let parts: Vec<&str> = value.splitn(6, ':').collect();
        match parts.as_slice() {
            [_, _, "servicediscovery", region, account, resource]
                if *region == self.region.as_str() && *account == self.account() =>
            {
                resource
                    .strip_prefix(kind)
                    .and_then(|rest| rest.strip_prefix('/'))
            }
            _ => None,
        }
    }

    pub fn namespace_id(&self, value: &str) -> Result<NamespaceId, ApiError> {
        self.resolve(value, "namespace")
            .map(|id| NamespaceId(id.to_owned()))
            .ok_or_else(|| ApiError::namespace_not_found(value))
    }

    pub fn service_id(&self, value: &str) -> Result<ServiceId, ApiError> {
        self.resolve(value, "service")
            .map(|id| ServiceId(id.to_owned()))
            .ok_or_else(|| ApiError::service_not_found(value))
    }

    /// `OwnerAccount` names another account: nothing of it is shared with us (spec §2.1).
    pub fn foreign_owner(&self, owner: Option<&String>) -> bool {
        owner.is_some_and(|owner| owner != self.account())
    }

    pub fn namespace_to_wire(
        &self,
        ns: &Namespace,
        service_count: usize,
        summary: bool,
    ) -> wire::Namespace {
        let dns = ns.kind.is_dns();
        wire::Namespace {
            id: ns.id.0.clone(),
            arn: self.arn("namespace", ns.id.as_str()),
            resource_owner: self.account().to_owned(),
            name: ns.name.clone(),
            kind: ns.kind.as_str().to_owned(),
            description: ns.description.clone(),
            service_count,
            properties: wire::NamespaceProperties {
                dns_properties: wire::DnsPropertiesOutput {
                    hosted_zone_id: if dns { ns.hosted_zone_id.clone() } else { None },
                    soa: if dns {
                        ns.soa_ttl.map(|ttl| wire::Soa { ttl: Some(ttl) })
                    } else {
                        None
                    },
                },
                http_properties: wire::HttpPropertiesOutput {
                    http_name: ns.http_name.clone(),
                },
            },
            create_date: ns.create_date.as_epoch_seconds(),
            creator_request_id: if summary {
                None
            } else {
                ns.creator_request_id.clone()
            },
        }
    }

    /// A service as GetService and CreateService answer it, or as ListServices' `ServiceSummary`
    /// (`summary`: no NamespaceId or CreatorRequestId, but an InstanceCount).
    pub fn service_to_wire(
        &self,
        service: &Service,
        instance_count: usize,
        summary: bool,
    ) -> wire::Service {
        wire::Service {
            id: service.id.0.clone(),
            arn: self.arn("service", service.id.as_str()),
            resource_owner: self.account().to_owned(),
            name: service.name.clone(),
            namespace_id: if summary {
                None
            } else {
                Some(service.namespace_id.0.clone())
            },
            description: service.description.clone(),
            // Observed AWS output has no InstanceCount in GetService and CreateService (awscli
            // examples/servicediscovery/get-service.rst and create-service.rst, captured in 2025),
            // although the model lists it; no current capture of ListServices shows the summary
            // without it, so summaries keep it.
            instance_count: summary.then_some(instance_count),
            // A service without DNS records (Type HTTP) has an empty DnsConfig rather than none,
            // as observed AWS output shows (`"DnsConfig": {}` in awscli
            // examples/servicediscovery/get-service.rst, and in a summary in list-services.rst),
            // although the model marks DnsRecords required (spec §1.3); the SDKs read it as an
            // empty list.
            dns_config: Some(match &service.dns {
                Some(dns) => wire::DnsConfig {
                    namespace_id: if summary {
                        None
                    } else {
                        Some(service.namespace_id.0.clone())
                    },
                    routing_policy: Some(dns.routing_policy.as_str().to_owned()),
                    dns_records: Some(
                        dns.records
                            .iter()
                            .map(|r| wire::DnsRecord {
                                kind: Some(r.kind.as_str().to_owned()),
                                ttl: Some(r.ttl),
                            })
                            .collect(),
                    ),
                },
                None => wire::DnsConfig {
                    namespace_id: None,
                    routing_policy: None,
                    dns_records: None,
                },
            }),
            kind: service.kind.as_str().to_owned(),
            health_check_config: match &service.health {
                ServiceHealth::Probed(check) => Some(wire::HealthCheckConfig {
                    kind: Some(check.kind.as_str().to_owned()),
                    resource_path: check.resource_path.clone(),
                    failure_threshold: Some(check.failure_threshold),
                }),
                _ => None,
            },
            // The model says the threshold is "always set to 1"; AWS echoes 1 (spec §5.3).
            health_check_custom_config: match service.health {
                ServiceHealth::Custom => Some(wire::HealthCheckCustomConfig {
                    failure_threshold: Some(1),
                }),
                _ => None,
            },
            create_date: service.create_date.as_epoch_seconds(),
            creator_request_id: if summary {
                None
            } else {
                service.creator_request_id.clone()
            },
            created_by_account: self.account().to_owned(),
        }
    }

    pub fn instance_to_wire(&self, instance: &Instance, with_token: bool) -> wire::Instance {
        wire::Instance {
            id: instance.id.clone(),
            creator_request_id: if with_token {
                instance.creator_request_id.clone()
            } else {
                None
            },
            attributes: instance.attributes.clone(),
            created_by_account: self.account().to_owned(),
        }
    }

    pub fn operation_to_wire(&self, op: &Operation) -> wire::Operation {
        let mut targets = wire::Map::new();
        if let Some(ns) = &op.namespace_id {
            targets.insert("NAMESPACE".into(), ns.0.clone());
        }
        if let Some(srv) = &op.service_id {
            targets.insert("SERVICE".into(), srv.0.clone());
        }
        if let Some(instance) = &op.instance_id {
            targets.insert("INSTANCE".into(), instance.clone());
        }
        wire::Operation {
            id: op.id.0.clone(),
            owner_account: self.account().to_owned(),
            kind: op.kind.as_str().to_owned(),
            status: op.status.as_str().to_owned(),
            error_message: op.error_message.clone(),
            error_code: op.error_code.clone(),
            create_date: op.create_date.as_epoch_seconds(),
            update_date: op.update_date.as_epoch_seconds(),
            targets,
        }
    }
}

/// A new operation in state SUBMITTED carrying its mutation.
pub struct NewOperation {
    pub kind: OperationType,
    pub token: Option<String>,
    pub namespace_id: Option<NamespaceId>,
    pub service_id: Option<ServiceId>,
    pub instance_id: Option<String>,
    pub mutation: Mutation,
}

impl NewOperation {
    pub fn build(self, region: &Region, now: Timestamp) -> Operation {
        Operation {
            id: OperationId::generate(&mut rand::rng(), now.0),
            region: region.clone(),
            kind: self.kind,
            status: OperationStatus::Submitted,
            error_code: None,
            error_message: None,
            create_date: now,
            update_date: now,
            request_token: self.token,
            namespace_id: self.namespace_id,
            service_id: self.service_id,
            instance_id: self.instance_id,
            mutation: Some(self.mutation),
        }
    }
}

/// `DuplicateRequest` for a request that conflicts with `operation`, naming it as AWS does: by
/// the API operation that started it and its id, "in progress" or "completed" (see
/// `ApiError::duplicate_request`).
pub fn duplicate_request(registry: &Registry, operation: &Operation) -> ApiError {
    ApiError::duplicate_request(
        api_operation_name(registry, operation),
        operation.id.as_str(),
        operation.status.is_terminal(),
    )
}

/// The API operation that started `operation`: AWS's DuplicateRequest messages name it so
/// ("Another operation of type CreatePrivateDnsNamespace and id … is in progress", quoted from a
/// Terraform log; `DeleteNamespace` in getmoto/moto's record of AWS), not by the OperationType
/// (`CREATE_NAMESPACE`). A namespace operation is named after the namespace's type, which an
/// unfinished create carries in its mutation and the namespace itself tells otherwise.
pub fn api_operation_name(registry: &Registry, operation: &Operation) -> &'static str {
    let namespace_kind = match &operation.mutation {
        Some(Mutation::CreateNamespace(namespace)) => Some(namespace.kind),
        _ => operation
            .namespace_id
            .as_ref()
            .and_then(|id| registry.namespace_by_id(id))
            .map(|namespace| namespace.kind),
    };
    let by_namespace = |http: Op, private: Op, public: Op| {
        namespace_kind.map(|kind| match kind {
            NamespaceType::Http => http,
            NamespaceType::DnsPrivate => private,
            NamespaceType::DnsPublic => public,
        })
    };
    let op = match operation.kind {
        OperationType::CreateNamespace => by_namespace(
            Op::CreateHttpNamespace,
            Op::CreatePrivateDnsNamespace,
            Op::CreatePublicDnsNamespace,
        ),
        OperationType::UpdateNamespace => by_namespace(
            Op::UpdateHttpNamespace,
            Op::UpdatePrivateDnsNamespace,
            Op::UpdatePublicDnsNamespace,
        ),
        OperationType::DeleteNamespace => Some(Op::DeleteNamespace),
        OperationType::UpdateService => Some(Op::UpdateService),
        OperationType::RegisterInstance => Some(Op::RegisterInstance),
        OperationType::DeregisterInstance => Some(Op::DeregisterInstance),
    };
    match (op, operation.kind) {
        (Some(op), _) => op.name(),
        // A finished create or update whose namespace has since been deleted: its type is gone
        // with it, so the message names the operation without it.
        (None, OperationType::CreateNamespace) => "CreateNamespace",
        (None, _) => "UpdateNamespace",
    }
}

/// A request's `CreatorRequestId`/`UpdaterRequestId` as an idempotency token. An empty string is
/// no token (every request carrying one is a new request), as if the member were left out.
///
/// Replays (spec §3.2, EMU-REC): a token is remembered as long as its operation is (see
/// `--operation-retention`), finished or not. The same token for the same target (namespace name
/// and type, service and instance, or namespace) returns the original operation and changes
/// nothing, even when other members differ — the token names the request, and AWS documents it as
/// making retries safe; the same token for another target is `DuplicateRequest`.
pub fn idempotency_token(value: Option<String>) -> Option<String> {
    value.filter(|token| !token.is_empty())
}

/// Pagination tokens are opaque to clients: the hex of the last key returned.
pub fn encode_token(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

pub fn decode_token(token: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::invalid_input(format!("The NextToken is not valid: {token}"));
    if !token.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

/// A key of the creation-ordered lists (namespaces, services, operations): `millis.id`.
pub fn dated_key(date: Timestamp, id: &str) -> String {
    format!("{}.{id}", date.0)
}

pub fn parse_dated_key(token: &str) -> Result<(Timestamp, String), ApiError> {
    let key = decode_token(token)?;
    key.split_once('.')
        .and_then(|(millis, id)| Some((Timestamp(millis.parse().ok()?), id.to_owned())))
        .ok_or_else(|| ApiError::invalid_input(format!("The NextToken is not valid: {token}")))
}

/// The HttpName of a new namespace: its name, unless some namespace of the region already
/// answers DiscoverInstances by that name, in which case a suffix is added (spec §4.1, U8).
pub fn http_name_for(registry: &crate::store::Registry, region: &Region, name: &str) -> String {
    let taken = |candidate: &str| {
        registry
            .namespaces(region)
            .any(|ns| ns.http_name == candidate)
            || registry
                .pending_namespace_creations()
                .any(|ns| &ns.region == region && ns.http_name == candidate)
    };
    if !taken(name) {
        return name.to_owned();
    }
    loop {
        let candidate = format!("{name}-{}", model::ids::http_name_suffix(&mut rand::rng()));
        if !taken(&candidate) {
            return candidate;
        }
    }
}

/// Two namespaces clash when they have the same name and type, or are both DNS namespaces of the
/// same name: our one DNS server cannot serve two zones of one name in a region (a documented
/// divergence: Route 53 allows a private and a public zone of one name).
pub fn namespaces_clash(
    a_kind: NamespaceType,
    a_name: &str,
    b_kind: NamespaceType,
    b_name: &str,
) -> bool {
    let same_name = if a_kind.is_dns() && b_kind.is_dns() {
        a_name
            .trim_end_matches('.')
            .eq_ignore_ascii_case(b_name.trim_end_matches('.'))
    } else {
        a_name == b_name
    };
    same_name && (a_kind == b_kind || (a_kind.is_dns() && b_kind.is_dns()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Change;
    use rstest::rstest;

    fn namespace(kind: NamespaceType) -> Namespace {
        Namespace {
            id: NamespaceId("ns-aaaaaaaaaaaaaaaa".to_owned()),
            region: Region("us-east-1".to_owned()),
            name: "n.local".to_owned(),
            http_name: "n.local".to_owned(),
            kind,
            description: None,
            vpc: None,
            soa_ttl: None,
            hosted_zone_id: None,
            creator_request_id: None,
            create_date: Timestamp(1),
            tags: Default::default(),
        }
    }

    fn operation(kind: OperationType, mutation: Option<Mutation>) -> Operation {
        let mut op = NewOperation {
            kind,
            token: None,
            namespace_id: Some(NamespaceId("ns-aaaaaaaaaaaaaaaa".to_owned())),
            service_id: None,
            instance_id: None,
            mutation: Mutation::DeleteNamespace {
                namespace_id: NamespaceId("ns-aaaaaaaaaaaaaaaa".to_owned()),
            },
        }
        .build(&Region("us-east-1".to_owned()), Timestamp(1));
        op.mutation = mutation;
        op
    }

    #[rstest]
    #[case(NamespaceType::Http, "CreateHttpNamespace", "UpdateHttpNamespace")]
    #[case(
        NamespaceType::DnsPrivate,
        "CreatePrivateDnsNamespace",
        "UpdatePrivateDnsNamespace"
    )]
    #[case(
        NamespaceType::DnsPublic,
        "CreatePublicDnsNamespace",
        "UpdatePublicDnsNamespace"
    )]
    fn namespace_operations_are_named_after_the_namespace_type(
        #[case] kind: NamespaceType,
        #[case] create: &str,
        #[case] update: &str,
    ) {
        let empty = Registry::default();
        // An unfinished create: the namespace is only in the mutation.
        let pending = operation(
            OperationType::CreateNamespace,
            Some(Mutation::CreateNamespace(namespace(kind))),
        );
        assert_eq!(api_operation_name(&empty, &pending), create);
        // Finished: the namespace itself tells.
        let mut registry = Registry::default();
        registry.apply(&Change::PutNamespace(namespace(kind)));
        let finished = operation(OperationType::CreateNamespace, None);
        assert_eq!(api_operation_name(&registry, &finished), create);
        let updated = operation(OperationType::UpdateNamespace, None);
        assert_eq!(api_operation_name(&registry, &updated), update);
        // The namespace is gone: the operation is named without its type.
        assert_eq!(api_operation_name(&empty, &finished), "CreateNamespace");
        assert_eq!(api_operation_name(&empty, &updated), "UpdateNamespace");
    }

    #[rstest]
    #[case(OperationType::DeleteNamespace, "DeleteNamespace")]
    #[case(OperationType::UpdateService, "UpdateService")]
    #[case(OperationType::RegisterInstance, "RegisterInstance")]
    #[case(OperationType::DeregisterInstance, "DeregisterInstance")]
    fn other_operations_are_named_as_their_api_operation(
        #[case] kind: OperationType,
        #[case] name: &str,
    ) {
        assert_eq!(
            api_operation_name(&Registry::default(), &operation(kind, None)),
            name
        );
    }

    #[test]
    fn duplicate_request_says_whether_the_operation_finished() {
        let registry = Registry::default();
        let mut op = operation(OperationType::DeleteNamespace, None);
        let error = duplicate_request(&registry, &op);
        assert_eq!(error.code, "DuplicateRequest");
        assert_eq!(
            error.message,
            format!(
                "Another operation of type DeleteNamespace and id {} is in progress",
                op.id.as_str()
            )
        );
        assert_eq!(
            error.extra,
            vec![("DuplicateOperationId", op.id.as_str().to_owned())]
        );
        op.status = OperationStatus::Success;
        assert_eq!(
            duplicate_request(&registry, &op).message,
            format!(
                "Another operation of type DeleteNamespace and id {} has completed",
                op.id.as_str()
            )
        );
    }
}
