//! The Cloud Map wire format (AWS JSON 1.1, PascalCase members) — the only serde in the server's
//! Cloud Map path. Every input member is optional here so that a missing required member becomes
//! an `InvalidInput` naming it (as AWS does), not a deserialisation error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub type Map = BTreeMap<String, String>;

// ----- shared shapes -----

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Tag {
    #[serde(rename = "Key")]
    pub key: Option<String>,
    #[serde(rename = "Value")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    pub name: Option<String>,
    pub values: Option<Vec<String>>,
    pub condition: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Soa {
    #[serde(rename = "TTL")]
    pub ttl: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SoaChange {
    #[serde(rename = "TTL")]
    pub ttl: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DnsPropertiesInput {
    #[serde(rename = "SOA")]
    pub soa: Option<Soa>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamespacePropertiesInput {
    pub dns_properties: Option<DnsPropertiesInput>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DnsRecord {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    #[serde(rename = "TTL")]
    pub ttl: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DnsConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_policy: Option<String>,
    /// Left out only in the empty `DnsConfig` of a service without DNS records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_records: Option<Vec<DnsRecord>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheckConfig {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheckCustomConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i64>,
}

// ----- outputs -----

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationIdOutput {
    pub operation_id: String,
}

#[derive(Debug, Serialize)]
pub struct Empty {}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DnsPropertiesOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,
    #[serde(rename = "SOA", skip_serializing_if = "Option::is_none")]
    pub soa: Option<Soa>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpPropertiesOutput {
    pub http_name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamespaceProperties {
    pub dns_properties: DnsPropertiesOutput,
    pub http_properties: HttpPropertiesOutput,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Namespace {
    pub id: String,
    pub arn: String,
    pub resource_owner: String,
    pub name: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub service_count: usize,
    pub properties: NamespaceProperties,
    pub create_date: f64,
    /// Not in `NamespaceSummary` (ListNamespaces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator_request_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Service {
    pub id: String,
    pub arn: String,
    pub resource_owner: String,
    pub name: String,
    /// Not in `ServiceSummary` (ListServices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Only in `ServiceSummary` (ListServices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_config: Option<DnsConfig>,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_config: Option<HealthCheckConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_custom_config: Option<HealthCheckCustomConfig>,
    pub create_date: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator_request_id: Option<String>,
    pub created_by_account: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Instance {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator_request_id: Option<String>,
    pub attributes: Map,
    pub created_by_account: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Operation {
    pub id: String,
    pub owner_account: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub create_date: f64,
    pub update_date: f64,
    pub targets: Map,
}

// ----- namespaces -----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateHttpNamespaceInput {
    pub name: Option<String>,
    pub creator_request_id: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreatePrivateDnsNamespaceInput {
    pub name: Option<String>,
    pub creator_request_id: Option<String>,
    pub description: Option<String>,
    pub vpc: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub properties: Option<NamespacePropertiesInput>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreatePublicDnsNamespaceInput {
    pub name: Option<String>,
    pub creator_request_id: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub properties: Option<NamespacePropertiesInput>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdInput {
    pub id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetNamespaceOutput {
    pub namespace: Namespace,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInput {
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
    pub filters: Option<Vec<Filter>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListNamespacesOutput {
    pub namespaces: Vec<Namespace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpNamespaceChange {
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateHttpNamespaceInput {
    pub id: Option<String>,
    pub updater_request_id: Option<String>,
    pub namespace: Option<HttpNamespaceChange>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DnsPropertiesChange {
    #[serde(rename = "SOA")]
    pub soa: Option<SoaChange>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamespacePropertiesChange {
    pub dns_properties: Option<DnsPropertiesChange>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DnsNamespaceChange {
    pub description: Option<String>,
    pub properties: Option<NamespacePropertiesChange>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateDnsNamespaceInput {
    pub id: Option<String>,
    pub updater_request_id: Option<String>,
    pub namespace: Option<DnsNamespaceChange>,
}

// ----- services -----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateServiceInput {
    pub name: Option<String>,
    pub namespace_id: Option<String>,
    pub creator_request_id: Option<String>,
    pub description: Option<String>,
    pub dns_config: Option<DnsConfig>,
    pub health_check_config: Option<HealthCheckConfig>,
    pub health_check_custom_config: Option<HealthCheckCustomConfig>,
    pub tags: Option<Vec<Tag>>,
    #[serde(rename = "Type")]
    pub kind: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceOutput {
    pub service: Service,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListServicesOutput {
    pub services: Vec<Service>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DnsConfigChange {
    pub dns_records: Option<Vec<DnsRecord>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceChange {
    pub description: Option<String>,
    pub dns_config: Option<DnsConfigChange>,
    pub health_check_config: Option<HealthCheckConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateServiceInput {
    pub id: Option<String>,
    pub service: Option<ServiceChange>,
}

// ----- service attributes -----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetServiceAttributesInput {
    pub service_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceAttributes {
    pub service_arn: String,
    pub resource_owner: String,
    pub attributes: Map,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetServiceAttributesOutput {
    pub service_attributes: ServiceAttributes,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateServiceAttributesInput {
    pub service_id: Option<String>,
    pub attributes: Option<Map>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteServiceAttributesInput {
    pub service_id: Option<String>,
    pub attributes: Option<Vec<String>>,
}

// ----- instances -----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterInstanceInput {
    pub service_id: Option<String>,
    pub instance_id: Option<String>,
    pub creator_request_id: Option<String>,
    pub attributes: Option<Map>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceRefInput {
    pub service_id: Option<String>,
    pub instance_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetInstanceOutput {
    pub resource_owner: String,
    pub instance: Instance,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInstancesInput {
    pub service_id: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInstancesOutput {
    pub resource_owner: String,
    pub instances: Vec<Instance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetInstancesHealthStatusInput {
    pub service_id: Option<String>,
    pub instances: Option<Vec<String>>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetInstancesHealthStatusOutput {
    pub status: Map,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateInstanceCustomHealthStatusInput {
    pub service_id: Option<String>,
    pub instance_id: Option<String>,
    pub status: Option<String>,
}

// ----- discovery -----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiscoverInstancesInput {
    pub namespace_name: Option<String>,
    pub service_name: Option<String>,
    pub max_results: Option<i64>,
    pub query_parameters: Option<Map>,
    pub optional_parameters: Option<Map>,
    pub health_status: Option<String>,
    pub owner_account: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpInstanceSummary {
    pub instance_id: String,
    pub namespace_name: String,
    pub service_name: String,
    pub health_status: String,
    pub attributes: Map,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiscoverInstancesOutput {
    pub instances: Vec<HttpInstanceSummary>,
    pub instances_revision: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiscoverInstancesRevisionInput {
    pub namespace_name: Option<String>,
    pub service_name: Option<String>,
    pub owner_account: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiscoverInstancesRevisionOutput {
    pub instances_revision: i64,
}

// ----- operations -----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetOperationInput {
    pub operation_id: Option<String>,
    pub owner_account: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetOperationOutput {
    pub operation: Operation,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationSummary {
    pub id: String,
    pub status: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListOperationsOutput {
    pub operations: Vec<OperationSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

// ----- tags -----

#[derive(Debug, Deserialize)]
pub struct TagResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: Option<String>,
    #[serde(rename = "Tags")]
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Deserialize)]
pub struct UntagResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: Option<String>,
    #[serde(rename = "TagKeys")]
    pub tag_keys: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub struct ListTagsForResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResourceOutput {
    pub tags: Vec<Tag>,
}
