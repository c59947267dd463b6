//! Services: creation rules (record sets, routing, health configuration), names, idempotency,
//! updates through UPDATE_SERVICE operations, deletion and attributes.

use aws_sdk_servicediscovery::error::ProvideErrorMetadata;
use aws_sdk_servicediscovery::types::{
    DnsConfig, DnsConfigChange, DnsRecord, HealthCheckConfig, HealthCheckCustomConfig,
    HealthCheckType, OperationStatus, RecordType, RoutingPolicy, ServiceChange, ServiceFilter,
    ServiceFilterName, ServiceType,
};

use crate::fixtures::{http_namespace, private_namespace, records, register, wait_operation};
use crate::harness::TestServer;

fn http_check() -> HealthCheckConfig {
    HealthCheckConfig::builder()
        .r#type(HealthCheckType::Http)
        .resource_path("/health")
        .failure_threshold(3)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_service_returns_the_full_service() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "app.local").await;
    let created = client
        .create_service()
        .name("backend-api")
        .namespace_id(&ns)
        .dns_config(records(&[(RecordType::A, 60)]))
        .health_check_config(http_check())
        .send()
        .await
        .unwrap();
    let service = created.service().unwrap();
    let id = service.id().unwrap();
    assert!(id.starts_with("srv-") && id.len() == 20, "{id}");
    assert_eq!(
        service.arn(),
        Some(format!("arn:aws:servicediscovery:us-east-1:123456789012:service/{id}").as_str())
    );
    assert_eq!(service.r#type(), Some(&ServiceType::DnsHttp));
    assert_eq!(service.namespace_id(), Some(ns.as_str()));
    let dns = service.dns_config().unwrap();
    assert_eq!(dns.routing_policy(), Some(&RoutingPolicy::Multivalue));
    assert_eq!(dns.dns_records()[0].ttl(), 60);
    let check = service.health_check_config().unwrap();
    assert_eq!(
        (check.resource_path(), check.failure_threshold()),
        (Some("/health"), Some(3))
    );
    // AWS's CreateService and GetService answers carry no InstanceCount (awscli
    // examples/servicediscovery/create-service.rst, get-service.rst); ListServices' do.
    assert_eq!(service.instance_count(), None);
    let got = client.get_service().id(id).send().await.unwrap();
    assert_eq!(got.service().unwrap().name(), Some("backend-api"));
    assert_eq!(got.service().unwrap().instance_count(), None);
    let listed = client.list_services().send().await.unwrap();
    assert_eq!(listed.services()[0].instance_count(), Some(0));
    let namespace = client.get_namespace().id(&ns).send().await.unwrap();
    assert_eq!(namespace.namespace().unwrap().service_count(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
#[allow(deprecated)] // DnsConfig.NamespaceId is deprecated; this test checks it still works.
async fn the_legacy_namespace_id_inside_dns_config_is_accepted() {
    let server = TestServer::start(&[]).await;
    let ns = private_namespace(&server.client, "legacy.local").await;
    let config = DnsConfig::builder()
        .namespace_id(&ns)
        .dns_records(
            DnsRecord::builder()
                .r#type(RecordType::A)
                .ttl(10)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let created = server
        .client
        .create_service()
        .name("web")
        .dns_config(config)
        .send()
        .await
        .unwrap();
    assert_eq!(created.service().unwrap().namespace_id(), Some(ns.as_str()));
    let err = server
        .client
        .create_service()
        .name("orphan")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidInput"));
    assert_eq!(
        err.message(),
        Some("Service namespace id cannot be null"),
        "AWS's text (awsdocs/aws-cloudformation-user-guide PR #463)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_combinations_are_rejected() {
    let server = TestServer::start(&["--strict"]).await;
    let client = &server.client;
    let ns = private_namespace(client, "rules.local").await;
    // Health checks are legitimate in public namespaces even under --strict, so these cases fail
    // for their own reason only.
    let public = crate::fixtures::public_namespace(client, "rules.example.com").await;
    let both = client
        .create_service()
        .name("both")
        .namespace_id(&public)
        .dns_config(records(&[(RecordType::A, 60)]))
        .health_check_config(http_check())
        .health_check_custom_config(HealthCheckCustomConfig::builder().build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(both.code(), Some("InvalidInput"));
    assert!(
        both.message().unwrap().contains("HealthCheckCustomConfig"),
        "{both:?}"
    );
    let cname_multivalue = client
        .create_service()
        .name("cname")
        .namespace_id(&ns)
        .dns_config(records(&[(RecordType::Cname, 60)]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(cname_multivalue.code(), Some("InvalidInput"));
    let cname_a = client
        .create_service()
        .name("cname-a")
        .namespace_id(&ns)
        .dns_config(
            DnsConfig::builder()
                .routing_policy(RoutingPolicy::Weighted)
                .dns_records(
                    DnsRecord::builder()
                        .r#type(RecordType::Cname)
                        .ttl(1)
                        .build()
                        .unwrap(),
                )
                .dns_records(
                    DnsRecord::builder()
                        .r#type(RecordType::A)
                        .ttl(1)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(cname_a.code(), Some("InvalidInput"));
    let tcp_with_path = client
        .create_service()
        .name("tcp")
        .namespace_id(&public)
        .dns_config(records(&[(RecordType::A, 60)]))
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Tcp)
                .resource_path("/x")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(tcp_with_path.code(), Some("InvalidInput"));
    assert!(
        tcp_with_path.message().unwrap().contains("ResourcePath"),
        "{tcp_with_path:?}"
    );
    // --strict: a Route 53 health check in a private namespace is refused, as on AWS.
    let private_check = client
        .create_service()
        .name("checked")
        .namespace_id(&ns)
        .dns_config(records(&[(RecordType::A, 60)]))
        .health_check_config(http_check())
        .send()
        .await
        .unwrap_err();
    assert_eq!(private_check.code(), Some("InvalidInput"));
    // A + SRV is a valid set.
    client
        .create_service()
        .name("a-srv")
        .namespace_id(&ns)
        .dns_config(records(&[(RecordType::A, 60), (RecordType::Srv, 60)]))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn services_in_http_namespaces_are_http_only() {
    let server = TestServer::start(&[]).await;
    let ns = http_namespace(&server.client, "api-only").await;
    let created = server
        .client
        .create_service()
        .name("svc")
        .namespace_id(&ns)
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.service().unwrap().r#type(),
        Some(&ServiceType::Http)
    );
    // An empty DnsConfig, as AWS answers (awscli examples/servicediscovery/get-service.rst).
    let dns = created.service().unwrap().dns_config().unwrap();
    assert!(dns.dns_records().is_empty() && dns.routing_policy().is_none());
    let err = server
        .client
        .create_service()
        .name("dns")
        .namespace_id(&ns)
        .dns_config(records(&[(RecordType::A, 60)]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidInput"));
    assert_eq!(
        err.message(),
        Some("When you specify an HTTP service, you can't include a DnsConfig element."),
        "AWS's text (spec §14)"
    );
    let op = server
        .client
        .update_service()
        .id(created.service().unwrap().id().unwrap())
        .service(ServiceChange::builder().description("x").build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(op.code(), Some("InvalidInput"));
}

#[tokio::test(flavor = "multi_thread")]
async fn names_differing_only_by_case_collide_in_dns_namespaces_only() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let dns = private_namespace(client, "case.local").await;
    let first = client
        .create_service()
        .name("Web")
        .namespace_id(&dns)
        .dns_config(records(&[(RecordType::A, 1)]))
        .send()
        .await
        .unwrap();
    let err = client
        .create_service()
        .name("web")
        .namespace_id(&dns)
        .dns_config(records(&[(RecordType::A, 1)]))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let aws_sdk_servicediscovery::operation::create_service::CreateServiceError::ServiceAlreadyExists(exists) = err else {
        panic!("expected ServiceAlreadyExists, got {err:?}")
    };
    assert_eq!(exists.service_id(), first.service().unwrap().id());
    assert_eq!(exists.service_arn(), first.service().unwrap().arn());
    let http = http_namespace(client, "case-http").await;
    client
        .create_service()
        .name("Web")
        .namespace_id(&http)
        .send()
        .await
        .unwrap();
    client
        .create_service()
        .name("web")
        .namespace_id(&http)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_creator_request_id_returns_the_same_service() {
    let server = TestServer::start(&[]).await;
    let ns = private_namespace(&server.client, "replay.local").await;
    let create = || {
        server
            .client
            .create_service()
            .name("svc")
            .namespace_id(&ns)
            .creator_request_id("tok")
            .dns_config(records(&[(RecordType::A, 1)]))
            .send()
    };
    let first = create().await.unwrap();
    let second = create().await.unwrap();
    assert_eq!(
        first.service().unwrap().id(),
        second.service().unwrap().id()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn update_service_changes_ttls_and_omission_removes_the_health_check() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "upd.local").await;
    let created = client
        .create_service()
        .name("svc")
        .namespace_id(&ns)
        .dns_config(records(&[(RecordType::A, 60)]))
        .health_check_config(http_check())
        .send()
        .await
        .unwrap();
    let id = created.service().unwrap().id().unwrap();
    let op = client
        .update_service()
        .id(id)
        .service(
            ServiceChange::builder()
                .description("ttl 5")
                .dns_config(
                    DnsConfigChange::builder()
                        .dns_records(
                            DnsRecord::builder()
                                .r#type(RecordType::A)
                                .ttl(5)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        wait_operation(client, op.operation_id().unwrap()).await,
        OperationStatus::Success
    );
    let got = client.get_service().id(id).send().await.unwrap();
    let service = got.service().unwrap();
    assert_eq!(service.dns_config().unwrap().dns_records()[0].ttl(), 5);
    assert_eq!(service.description(), Some("ttl 5"));
    assert!(
        service.health_check_config().is_none(),
        "omitting HealthCheckConfig removes it"
    );
    // Record types can't change; AWS's text names both sets (hashicorp/terraform-provider-aws
    // PR #2613 shows A → AAAA).
    let change_to = |kinds: &[RecordType]| {
        let mut records = DnsConfigChange::builder();
        for kind in kinds {
            records = records.dns_records(
                DnsRecord::builder()
                    .r#type(kind.clone())
                    .ttl(5)
                    .build()
                    .unwrap(),
            );
        }
        client
            .update_service()
            .id(id)
            .service(
                ServiceChange::builder()
                    .dns_config(records.build().unwrap())
                    .build(),
            )
            .send()
    };
    let err = change_to(&[RecordType::Aaaa]).await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidInput"));
    assert_eq!(
        err.message(),
        Some(
            "The record types in the request must be the same as those present in the existing \
             service. Records in the existing service are [A], but the records in the request are \
             [AAAA]. The record types of a service cannot be changed."
        )
    );
    let err = change_to(&[RecordType::A, RecordType::Srv])
        .await
        .unwrap_err();
    assert!(
        err.message()
            .unwrap()
            .contains("existing service are [A], but the records in the request are [A, SRV]."),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_health_check_keeps_its_type() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = crate::fixtures::public_namespace(client, "hctype.example.com").await;
    let checked = client
        .create_service()
        .name("checked")
        .namespace_id(&ns)
        .dns_config(records(&[(RecordType::A, 60)]))
        .health_check_config(http_check())
        .send()
        .await
        .unwrap();
    let checked = checked.service().unwrap().id().unwrap().to_owned();
    let update = |id: String, check: HealthCheckConfig| {
        client
            .update_service()
            .id(id)
            .service(ServiceChange::builder().health_check_config(check).build())
            .send()
    };
    let tcp = || {
        HealthCheckConfig::builder()
            .r#type(HealthCheckType::Tcp)
            .build()
            .unwrap()
    };
    // AWS's text (hashicorp/terraform-provider-aws PR #2613).
    let err = update(checked.clone(), tcp()).await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidInput"));
    assert_eq!(
        err.message(),
        Some("Type of health check cannot be changed")
    );
    let got = client.get_service().id(&checked).send().await.unwrap();
    assert_eq!(
        got.service()
            .unwrap()
            .health_check_config()
            .unwrap()
            .r#type(),
        &HealthCheckType::Http,
        "the refused update changed nothing"
    );
    // The same type with another path and threshold is an update like any other.
    let same_type = HealthCheckConfig::builder()
        .r#type(HealthCheckType::Http)
        .resource_path("/ready")
        .failure_threshold(2)
        .build()
        .unwrap();
    let op = update(checked.clone(), same_type).await.unwrap();
    crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
    // A service without a check may get one of any type.
    let unchecked = crate::fixtures::plain_service(client, &ns, "unchecked").await;
    let op = update(unchecked.clone(), tcp()).await.unwrap();
    crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
    let got = client.get_service().id(&unchecked).send().await.unwrap();
    assert_eq!(
        got.service()
            .unwrap()
            .health_check_config()
            .unwrap()
            .r#type(),
        &HealthCheckType::Tcp
    );
}

#[tokio::test(flavor = "multi_thread")]
#[allow(deprecated)] // The threshold is deprecated on the wire; AWS still echoes 1.
async fn update_service_keeps_custom_health() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "keep.local").await;
    let id = crate::fixtures::custom_health_service(client, &ns, "svc").await;
    let op = client
        .update_service()
        .id(&id)
        .service(ServiceChange::builder().description("d").build())
        .send()
        .await
        .unwrap();
    crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
    let got = client.get_service().id(&id).send().await.unwrap();
    assert_eq!(
        got.service()
            .unwrap()
            .health_check_custom_config()
            .unwrap()
            .failure_threshold(),
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_with_instances_cannot_be_deleted() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "del.local").await;
    let id = crate::fixtures::plain_service(client, &ns, "svc").await;
    register(client, &id, "i-1", "10.0.0.1", &[]).await;
    let err = client.delete_service().id(&id).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceInUse"));
    assert_eq!(
        err.message(),
        Some(
            "Service contains registered instances; delete the instances before deleting the service"
        ),
        "AWS's text (hashicorp/terraform#18264)"
    );
    let op = client
        .deregister_instance()
        .service_id(&id)
        .instance_id("i-1")
        .send()
        .await
        .unwrap();
    crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
    client.delete_service().id(&id).send().await.unwrap();
    let err = client.get_service().id(&id).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ServiceNotFound"));
}

#[tokio::test(flavor = "multi_thread")]
async fn list_services_filters_by_namespace_and_paginates() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let a = private_namespace(client, "a.local").await;
    let b = private_namespace(client, "b.local").await;
    for i in 0..4 {
        crate::fixtures::plain_service(client, &a, &format!("svc-{i}")).await;
    }
    crate::fixtures::plain_service(client, &b, "other").await;
    let only_a = client
        .list_services()
        .filters(
            ServiceFilter::builder()
                .name(ServiceFilterName::NamespaceId)
                .values(&a)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(only_a.services().len(), 4);
    assert!(
        only_a
            .services()
            .iter()
            .all(|s| s.name().unwrap().starts_with("svc-"))
    );
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_services()
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        names.extend(page.services().iter().map(|s| s.name().unwrap().to_owned()));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(names, ["svc-0", "svc-1", "svc-2", "svc-3", "other"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn service_attributes_upsert_delete_and_cap_at_thirty() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "attr.local").await;
    let id = crate::fixtures::plain_service(client, &ns, "svc").await;
    let got = client
        .get_service_attributes()
        .service_id(&id)
        .send()
        .await
        .unwrap();
    assert!(
        got.service_attributes()
            .unwrap()
            .attributes()
            .unwrap()
            .is_empty()
    );
    client
        .update_service_attributes()
        .service_id(&id)
        .attributes("weight", "1")
        .attributes("retry", "3")
        .send()
        .await
        .unwrap();
    client
        .update_service_attributes()
        .service_id(&id)
        .attributes("weight", "2")
        .send()
        .await
        .unwrap();
    client
        .delete_service_attributes()
        .service_id(&id)
        .attributes("retry")
        .attributes("absent")
        .send()
        .await
        .unwrap();
    let got = client
        .get_service_attributes()
        .service_id(&id)
        .send()
        .await
        .unwrap();
    let attributes = got.service_attributes().unwrap().attributes().unwrap();
    assert_eq!(attributes.len(), 1);
    assert_eq!(attributes["weight"], "2");
    let mut request = client.update_service_attributes().service_id(&id);
    for i in 0..30 {
        request = request.attributes(format!("k{i}"), "v");
    }
    let err = request.send().await.unwrap_err();
    assert_eq!(err.code(), Some("ServiceAttributesLimitExceededException"));
}
