//! Shortcuts that drive the API the way a careful client does: create, then poll the operation
//! until it reaches a terminal status.

use std::time::Duration;

use aws_sdk_servicediscovery::Client;
use aws_sdk_servicediscovery::types::{
    DnsConfig, DnsRecord, HealthCheckCustomConfig, Operation, OperationStatus, RecordType,
    RoutingPolicy,
};

use crate::harness::eventually;

/// An operation, asked once.
pub async fn operation(client: &Client, operation_id: &str) -> Operation {
    let answer = client
        .get_operation()
        .operation_id(operation_id)
        .send()
        .await
        .unwrap();
    answer.operation().unwrap().clone()
}

/// An operation's status, asked once.
pub async fn operation_status(client: &Client, operation_id: &str) -> OperationStatus {
    operation(client, operation_id)
        .await
        .status()
        .unwrap()
        .clone()
}

/// Waits for an operation to finish and returns its final status.
pub async fn wait_operation(client: &Client, operation_id: &str) -> OperationStatus {
    eventually(Duration::from_secs(10), || async {
        let status = operation_status(client, operation_id).await;
        matches!(status, OperationStatus::Success | OperationStatus::Fail).then_some(status)
    })
    .await
}

/// Waits for an operation and asserts that it succeeded.
pub async fn succeed(client: &Client, operation_id: &str) {
    assert_eq!(
        wait_operation(client, operation_id).await,
        OperationStatus::Success,
        "operation {operation_id}"
    );
}

/// The namespace a CREATE_NAMESPACE operation made, once it succeeded.
pub async fn namespace_of(client: &Client, operation_id: &str) -> String {
    succeed(client, operation_id).await;
    let op = client
        .get_operation()
        .operation_id(operation_id)
        .send()
        .await
        .unwrap();
    op.operation().unwrap().targets().unwrap()
        [&aws_sdk_servicediscovery::types::OperationTargetType::Namespace]
        .clone()
}

/// Creates a private DNS namespace and returns its id once the operation succeeded.
pub async fn private_namespace(client: &Client, name: &str) -> String {
    let op = client
        .create_private_dns_namespace()
        .name(name)
        .vpc("vpc-default")
        .send()
        .await
        .unwrap();
    namespace_of(client, op.operation_id().unwrap()).await
}

pub async fn public_namespace(client: &Client, name: &str) -> String {
    let op = client
        .create_public_dns_namespace()
        .name(name)
        .send()
        .await
        .unwrap();
    namespace_of(client, op.operation_id().unwrap()).await
}

pub async fn http_namespace(client: &Client, name: &str) -> String {
    let op = client
        .create_http_namespace()
        .name(name)
        .send()
        .await
        .unwrap();
    namespace_of(client, op.operation_id().unwrap()).await
}

pub fn records(types: &[(RecordType, i64)]) -> DnsConfig {
    let mut builder = DnsConfig::builder().routing_policy(RoutingPolicy::Multivalue);
    for (kind, ttl) in types {
        builder = builder.dns_records(
            DnsRecord::builder()
                .r#type(kind.clone())
                .ttl(*ttl)
                .build()
                .unwrap(),
        );
    }
    builder.build().unwrap()
}

/// A service with `records` in `namespace`; returns its id.
pub async fn dns_service(
    client: &Client,
    namespace: &str,
    name: &str,
    records: DnsConfig,
) -> String {
    let created = client
        .create_service()
        .name(name)
        .namespace_id(namespace)
        .dns_config(records)
        .send()
        .await
        .unwrap();
    created.service().unwrap().id().unwrap().to_owned()
}

/// An A-record service with custom health in `namespace`; returns the service id.
pub async fn custom_health_service(client: &Client, namespace: &str, name: &str) -> String {
    let service = client
        .create_service()
        .name(name)
        .namespace_id(namespace)
        .dns_config(records(&[(RecordType::A, 60)]))
        .health_check_custom_config(HealthCheckCustomConfig::builder().build())
        .send()
        .await
        .unwrap();
    service.service().unwrap().id().unwrap().to_owned()
}

/// An A-record service without health checking; returns the service id.
pub async fn plain_service(client: &Client, namespace: &str, name: &str) -> String {
    let service = client
        .create_service()
        .name(name)
        .namespace_id(namespace)
        .dns_config(records(&[(RecordType::A, 60)]))
        .send()
        .await
        .unwrap();
    service.service().unwrap().id().unwrap().to_owned()
}

/// Registers an instance with an IPv4 address (and extra attributes) and waits for success.
pub async fn register(
    client: &Client,
    service: &str,
    instance: &str,
    ipv4: &str,
    extra: &[(&str, &str)],
) {
    let mut request = client
        .register_instance()
        .service_id(service)
        .instance_id(instance)
        .attributes("AWS_INSTANCE_IPV4", ipv4);
    for (key, value) in extra {
        request = request.attributes(*key, *value);
    }
    let op = request.send().await.unwrap();
    assert_eq!(
        wait_operation(client, op.operation_id().unwrap()).await,
        OperationStatus::Success
    );
}

/// A WEIGHTED DnsConfig with these records.
pub fn weighted(types: &[(RecordType, i64)]) -> DnsConfig {
    let mut builder = DnsConfig::builder().routing_policy(RoutingPolicy::Weighted);
    for (kind, ttl) in types {
        builder = builder.dns_records(
            DnsRecord::builder()
                .r#type(kind.clone())
                .ttl(*ttl)
                .build()
                .unwrap(),
        );
    }
    builder.build().unwrap()
}

/// The properties change of UpdatePrivateDnsNamespace that sets the SOA TTL.
pub fn private_soa_change(
    ttl: i64,
) -> aws_sdk_servicediscovery::types::PrivateDnsNamespacePropertiesChange {
    use aws_sdk_servicediscovery::types::{
        PrivateDnsNamespacePropertiesChange, PrivateDnsPropertiesMutableChange, SoaChange,
    };
    PrivateDnsNamespacePropertiesChange::builder()
        .dns_properties(
            PrivateDnsPropertiesMutableChange::builder()
                .soa(SoaChange::builder().ttl(ttl).build().unwrap())
                .build(),
        )
        .build()
}

/// Registers a FARGATE task definition (awsvpc, 256 CPU units, 512 MiB) of one container and
/// returns its ARN.
pub async fn register_fargate(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
    container: aws_sdk_ecs::types::ContainerDefinition,
) -> String {
    ecs.register_task_definition()
        .family(family)
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(container)
        .send()
        .await
        .unwrap()
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_owned()
}

/// An awsvpc network configuration (its subnet names nothing here).
pub fn awsvpc() -> aws_sdk_ecs::types::NetworkConfiguration {
    aws_sdk_ecs::types::NetworkConfiguration::builder()
        .awsvpc_configuration(
            aws_sdk_ecs::types::AwsVpcConfiguration::builder()
                .subnets("subnet-12345")
                .build()
                .unwrap(),
        )
        .build()
}
