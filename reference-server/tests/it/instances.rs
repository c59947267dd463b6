//! Instances: registration rules for the reserved attributes, upsert semantics, the instance
//! revision, listing, custom health and health status reporting.

use aws_sdk_servicediscovery::error::ProvideErrorMetadata;
use aws_sdk_servicediscovery::types::{CustomHealthStatus, OperationStatus, RecordType};

use crate::fixtures::{
    custom_health_service, plain_service, private_namespace, records, register, wait_operation,
};
use crate::harness::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn reserved_attributes_are_required_by_record_type() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "req.local").await;
    let a = plain_service(client, &ns, "a").await;
    let srv = client
        .create_service()
        .name("srv")
        .namespace_id(&ns)
        .dns_config(records(&[(RecordType::Srv, 60)]))
        .send()
        .await
        .unwrap();
    let srv = srv.service().unwrap().id().unwrap().to_owned();
    // (service, attributes, accepted)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, bool);
    let cases: Vec<Case> = vec![
        (&a, vec![("AWS_INSTANCE_IPV4", "10.0.0.1")], true),
        (&a, vec![("AWS_INSTANCE_IPV6", "fd00::1")], false),
        (&a, vec![("AWS_INSTANCE_IPV4", "999.0.0.1")], false),
        (
            &a,
            vec![
                ("AWS_INSTANCE_IPV4", "10.0.0.1"),
                ("AWS_INSTANCE_PORT", "70000"),
            ],
            false,
        ),
        (
            &a,
            vec![
                ("AWS_INSTANCE_IPV4", "10.0.0.1"),
                ("AWS_INIT_HEALTH_STATUS", "MAYBE"),
            ],
            false,
        ),
        (&a, vec![("AWS_EC2_INSTANCE_ID", "i-0abc")], false),
        (&srv, vec![("AWS_INSTANCE_IPV4", "10.0.0.1")], false),
        (&srv, vec![("AWS_INSTANCE_PORT", "80")], false),
        (
            &srv,
            vec![
                ("AWS_INSTANCE_IPV4", "10.0.0.1"),
                ("AWS_INSTANCE_PORT", "80"),
            ],
            true,
        ),
    ];
    for (index, (service, attributes, ok)) in cases.into_iter().enumerate() {
        let mut request = client
            .register_instance()
            .service_id(service)
            .instance_id(format!("i-{index}"));
        for (k, v) in &attributes {
            request = request.attributes(*k, *v);
        }
        let result = request.send().await;
        assert_eq!(
            result.is_ok(),
            ok,
            "case {index} {attributes:?}: {:?}",
            result.err().map(|e| e.into_service_error())
        );
        if let Err(err) = result {
            assert_eq!(err.code(), Some("InvalidInput"));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn port_0_is_refused_where_the_port_is_used() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = crate::fixtures::public_namespace(client, "port.example.com").await;
    let srv = crate::fixtures::dns_service(
        client,
        &ns,
        "srv",
        records(&[(RecordType::A, 60), (RecordType::Srv, 60)]),
    )
    .await;
    let checked = client
        .create_service()
        .name("checked")
        .namespace_id(&ns)
        .dns_config(records(&[(RecordType::A, 60)]))
        .health_check_config(
            aws_sdk_servicediscovery::types::HealthCheckConfig::builder()
                .r#type(aws_sdk_servicediscovery::types::HealthCheckType::Tcp)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let checked = checked.service().unwrap().id().unwrap().to_owned();
    let a_only = plain_service(client, &ns, "a-only").await;
    let attempt = |service: String, port: &'static str| {
        client
            .register_instance()
            .service_id(service)
            .instance_id("i-1")
            .attributes("AWS_INSTANCE_IPV4", "10.0.0.1")
            .attributes("AWS_INSTANCE_PORT", port)
            .send()
    };
    // AWS's text for "0" in an SRV service (hashicorp/consul-aws#8); a health check probes the
    // port too.
    for service in [&srv, &checked] {
        let err = attempt(service.clone(), "0").await.unwrap_err();
        assert_eq!(err.code(), Some("InvalidInput"));
        assert_eq!(err.message(), Some("A valid port number must be supplied."));
    }
    // Other bad values keep our text.
    let err = attempt(srv.clone(), "70000").await.unwrap_err();
    assert_eq!(
        err.message(),
        Some("AWS_INSTANCE_PORT must be a port from 0 to 65535: 70000")
    );
    // Where nothing uses the port, 0 is just an attribute.
    let op = attempt(a_only.clone(), "0").await.unwrap();
    crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
    let op = attempt(srv.clone(), "1").await.unwrap();
    crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn alias_instances_need_a_weighted_service() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "alias.local").await;
    let multivalue = plain_service(client, &ns, "multivalue").await;
    let weighted_srv = crate::fixtures::dns_service(
        client,
        &ns,
        "weighted-srv",
        crate::fixtures::weighted(&[(RecordType::Srv, 60)]),
    )
    .await;
    let weighted_a = crate::fixtures::dns_service(
        client,
        &ns,
        "weighted-a",
        crate::fixtures::weighted(&[(RecordType::A, 60)]),
    )
    .await;
    let alias = |service: String| {
        client
            .register_instance()
            .service_id(service)
            .instance_id("lb")
            .attributes("AWS_ALIAS_DNS_NAME", "lb-1.us-east-1.elb.amazonaws.com")
            .send()
    };
    // AWS's text for a MULTIVALUE service (kubernetes-sigs/external-dns#1174).
    let err = alias(multivalue).await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidInput"));
    assert_eq!(
        err.message(),
        Some("ALIAS instance can be registered only in services with WEIGHTED routing policy")
    );
    // WEIGHTED without an A or AAAA record: AWS's text is unknown, ours stays.
    let err = alias(weighted_srv).await.unwrap_err();
    assert_eq!(
        err.message(),
        Some(
            "AWS_ALIAS_DNS_NAME requires a service with A or AAAA records and the WEIGHTED routing policy"
        )
    );
    let op = alias(weighted_a).await.unwrap();
    crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attribute_limits_are_enforced() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "lim.local").await;
    let svc = plain_service(client, &ns, "svc").await;
    let mut request = client
        .register_instance()
        .service_id(&svc)
        .instance_id("many")
        .attributes("AWS_INSTANCE_IPV4", "10.0.0.1");
    for i in 0..31 {
        request = request.attributes(format!("k{i}"), "v");
    }
    assert_eq!(
        request.send().await.unwrap_err().code(),
        Some("InvalidInput")
    );
    let big = "x".repeat(1000);
    let mut request = client
        .register_instance()
        .service_id(&svc)
        .instance_id("big")
        .attributes("AWS_INSTANCE_IPV4", "10.0.0.1");
    for i in 0..5 {
        request = request.attributes(format!("k{i}"), &big);
    }
    assert_eq!(
        request.send().await.unwrap_err().code(),
        Some("InvalidInput"),
        "over 5,000 characters"
    );
    let err = client
        .register_instance()
        .service_id(&svc)
        .instance_id("a b")
        .attributes("AWS_INSTANCE_IPV4", "10.0.0.1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidInput"));
}

#[tokio::test(flavor = "multi_thread")]
async fn re_registration_replaces_attributes_and_bumps_the_revision() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "up.local").await;
    let svc = plain_service(client, &ns, "svc").await;
    let revision = || async {
        client
            .discover_instances_revision()
            .namespace_name("up.local")
            .service_name("svc")
            .send()
            .await
            .unwrap()
            .instances_revision()
    };
    let r0 = revision().await;
    register(client, &svc, "i-1", "10.0.0.1", &[("color", "red")]).await;
    let r1 = revision().await;
    register(client, &svc, "i-1", "10.0.0.2", &[]).await;
    let r2 = revision().await;
    assert!(r0 < r1 && r1 < r2, "{r0:?} {r1:?} {r2:?}");
    let got = client
        .get_instance()
        .service_id(&svc)
        .instance_id("i-1")
        .send()
        .await
        .unwrap();
    let attributes = got.instance().unwrap().attributes().unwrap();
    assert_eq!(
        attributes.get("AWS_INSTANCE_IPV4").map(String::as_str),
        Some("10.0.0.2")
    );
    assert!(!attributes.contains_key("color"), "replaced, not merged");
    let list = client
        .list_instances()
        .service_id(&svc)
        .send()
        .await
        .unwrap();
    assert_eq!(list.instances().len(), 1);
    assert_eq!(list.resource_owner(), Some("123456789012"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_in_progress_makes_a_second_one_a_duplicate_request() {
    let server = TestServer::start(&["--operation-delay", "2s"]).await;
    let client = &server.client;
    let ns = private_namespace(client, "dup.local").await;
    let svc = plain_service(client, &ns, "svc").await;
    let first = client
        .register_instance()
        .service_id(&svc)
        .instance_id("i-1")
        .attributes("AWS_INSTANCE_IPV4", "10.0.0.1")
        .send()
        .await
        .unwrap();
    let err = client
        .register_instance()
        .service_id(&svc)
        .instance_id("i-1")
        .attributes("AWS_INSTANCE_IPV4", "10.0.0.2")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let aws_sdk_servicediscovery::operation::register_instance::RegisterInstanceError::DuplicateRequest(dup) = err else {
        panic!("expected DuplicateRequest, got {err:?}")
    };
    assert_eq!(dup.duplicate_operation_id(), first.operation_id());
    // AWS's wording names the operation in progress by its API name (getmoto/moto's record of
    // AWS for DeleteNamespace; "Another operation of type RegisterInstance" in a Go SDK sample).
    let in_progress = format!(
        "Another operation of type RegisterInstance and id {} is in progress",
        first.operation_id().unwrap()
    );
    assert_eq!(dup.message(), Some(in_progress.as_str()));
    // So does a deregistration that meets the registration.
    let err = client
        .deregister_instance()
        .service_id(&svc)
        .instance_id("i-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Some("DuplicateRequest"), Some(in_progress.as_str()))
    );
    // Until the operation succeeds, the instance is not there.
    let err = client
        .get_instance()
        .service_id(&svc)
        .instance_id("i-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InstanceNotFound"));
    let err = client.delete_service().id(&svc).send().await.unwrap_err();
    assert_eq!(
        err.code(),
        Some("ResourceInUse"),
        "a pending registration keeps the service in use"
    );
    assert_eq!(
        wait_operation(client, first.operation_id().unwrap()).await,
        OperationStatus::Success
    );
    client
        .get_instance()
        .service_id(&svc)
        .instance_id("i-1")
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn deregistering_an_unknown_instance_is_instance_not_found() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "dereg.local").await;
    let svc = plain_service(client, &ns, "svc").await;
    let err = client
        .deregister_instance()
        .service_id(&svc)
        .instance_id("ghost")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InstanceNotFound"));
    let err = client
        .deregister_instance()
        .service_id("srv-doesnotexist0000")
        .instance_id("ghost")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ServiceNotFound"));
}

#[tokio::test(flavor = "multi_thread")]
async fn list_instances_paginates_in_id_order() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "page.local").await;
    let svc = plain_service(client, &ns, "svc").await;
    for i in 0..7 {
        register(client, &svc, &format!("i-{i}"), "10.0.0.1", &[]).await;
    }
    let mut ids = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_instances()
            .service_id(&svc)
            .max_results(3)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        ids.extend(page.instances().iter().map(|i| i.id().unwrap().to_owned()));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(ids, (0..7).map(|i| format!("i-{i}")).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_health_starts_healthy_honours_the_initial_status_and_can_be_updated() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "health.local").await;
    let svc = custom_health_service(client, &ns, "svc").await;
    register(client, &svc, "default", "10.0.0.1", &[]).await;
    register(
        client,
        &svc,
        "starts-down",
        "10.0.0.2",
        &[("AWS_INIT_HEALTH_STATUS", "UNHEALTHY")],
    )
    .await;
    let status = client
        .get_instances_health_status()
        .service_id(&svc)
        .send()
        .await
        .unwrap();
    let status = status.status().unwrap();
    assert_eq!(status["default"].as_str(), "HEALTHY");
    assert_eq!(status["starts-down"].as_str(), "UNHEALTHY");
    client
        .update_instance_custom_health_status()
        .service_id(&svc)
        .instance_id("starts-down")
        .status(CustomHealthStatus::Healthy)
        .send()
        .await
        .unwrap();
    let status = client
        .get_instances_health_status()
        .service_id(&svc)
        .instances("starts-down")
        .send()
        .await
        .unwrap();
    assert_eq!(status.status().unwrap()["starts-down"].as_str(), "HEALTHY");
    let err = client
        .get_instances_health_status()
        .service_id(&svc)
        .instances("nobody")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InstanceNotFound"));
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_health_updates_on_other_services_are_custom_health_not_found() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "nocustom.local").await;
    let svc = plain_service(client, &ns, "svc").await;
    register(client, &svc, "i-1", "10.0.0.1", &[]).await;
    let err = client
        .update_instance_custom_health_status()
        .service_id(&svc)
        .instance_id("i-1")
        .status(CustomHealthStatus::Unhealthy)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("CustomHealthNotFound"));
    let status = client
        .get_instances_health_status()
        .service_id(&svc)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status.status().unwrap()["i-1"].as_str(),
        "UNKNOWN",
        "no health check: UNKNOWN"
    );
}
