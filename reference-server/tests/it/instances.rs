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
