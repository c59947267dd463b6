//! What the Cloud Map operations share: the request context, id-or-ARN resolution, pagination
//! tokens, model → wire conversions, and building asynchronous operations.

use super::wire;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::model::{
    self, Instance, Mutation, Namespace, NamespaceId, NamespaceType, Operation, OperationId,
    OperationStatus, OperationType, Region, Service, ServiceHealth, ServiceId, Timestamp,
};

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
