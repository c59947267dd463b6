//! DiscoverInstances and DiscoverInstancesRevision: health filters, query and optional
//! parameters, MaxResults, random order, HttpName lookup and the revision rules.

use std::collections::BTreeSet;

use aws_sdk_servicediscovery::error::ProvideErrorMetadata;
use aws_sdk_servicediscovery::types::{CustomHealthStatus, HealthStatus, HealthStatusFilter};

use crate::fixtures::{
    custom_health_service, http_namespace, plain_service, private_namespace, register,
};
use crate::harness::TestServer;

async fn discovered(
    server: &TestServer,
    ns: &str,
    svc: &str,
    filter: Option<HealthStatusFilter>,
) -> BTreeSet<String> {
    let out = server
        .client
        .discover_instances()
        .namespace_name(ns)
        .service_name(svc)
        .set_health_status(filter)
        .send()
        .await
        .unwrap();
    out.instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_owned())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn health_filters_select_instances_and_healthy_or_else_all_fails_open() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "disc.local").await;
    let svc = custom_health_service(client, &ns, "web").await;
    register(client, &svc, "up", "10.0.0.1", &[]).await;
    register(
        client,
        &svc,
        "down",
        "10.0.0.2",
        &[("AWS_INIT_HEALTH_STATUS", "UNHEALTHY")],
    )
    .await;
    assert_eq!(
        discovered(&server, "disc.local", "web", None).await,
        set(&["up"]),
        "default is HEALTHY"
    );
    assert_eq!(
        discovered(
            &server,
            "disc.local",
            "web",
            Some(HealthStatusFilter::Unhealthy)
        )
        .await,
        set(&["down"])
    );
    assert_eq!(
        discovered(&server, "disc.local", "web", Some(HealthStatusFilter::All)).await,
        set(&["up", "down"])
    );
    assert_eq!(
        discovered(
            &server,
            "disc.local",
            "web",
            Some(HealthStatusFilter::HealthyOrElseAll)
        )
        .await,
        set(&["up"])
    );
    client
        .update_instance_custom_health_status()
        .service_id(&svc)
        .instance_id("up")
        .status(CustomHealthStatus::Unhealthy)
        .send()
        .await
        .unwrap();
    assert!(
        discovered(&server, "disc.local", "web", None)
            .await
            .is_empty()
    );
    assert_eq!(
        discovered(
            &server,
            "disc.local",
            "web",
            Some(HealthStatusFilter::HealthyOrElseAll)
        )
        .await,
        set(&["up", "down"]),
        "no healthy instance: all of them"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_health_check_every_instance_is_returned_as_unknown() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "plain.local").await;
    let svc = plain_service(client, &ns, "web").await;
    register(
        client,
        &svc,
        "a",
        "10.0.0.1",
        &[("AWS_INIT_HEALTH_STATUS", "UNHEALTHY")],
    )
    .await;
    for filter in [
        HealthStatusFilter::Healthy,
        HealthStatusFilter::Unhealthy,
        HealthStatusFilter::All,
    ] {
        let out = client
            .discover_instances()
            .namespace_name("plain.local")
            .service_name("web")
            .health_status(filter)
            .send()
            .await
            .unwrap();
        assert_eq!(out.instances().len(), 1);
        assert_eq!(
            out.instances()[0].health_status().map(HealthStatus::as_str),
            Some("UNKNOWN")
        );
        assert_eq!(out.instances()[0].namespace_name(), Some("plain.local"));
        assert_eq!(out.instances()[0].service_name(), Some("web"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn query_parameters_and_optional_parameters() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = http_namespace(client, "params").await;
    let svc = client
        .create_service()
        .name("api")
        .namespace_id(&ns)
        .send()
        .await
        .unwrap();
    let svc = svc.service().unwrap().id().unwrap().to_owned();
    register(
        client,
        &svc,
        "blue-1",
        "10.0.0.1",
        &[("color", "blue"), ("stage", "prod")],
    )
    .await;
    register(
        client,
        &svc,
        "blue-2",
        "10.0.0.2",
        &[("color", "blue"), ("stage", "dev")],
    )
    .await;
    register(
        client,
        &svc,
        "red-1",
        "10.0.0.3",
        &[("color", "red"), ("stage", "prod")],
    )
    .await;
    assert_eq!(
        query(client, vec![("color", "blue")], vec![]).await,
        set(&["blue-1", "blue-2"])
    );
    assert_eq!(
        query(client, vec![("color", "blue"), ("stage", "prod")], vec![]).await,
        set(&["blue-1"]),
        "all must match"
    );
    assert_eq!(
        query(client, vec![("color", "blue")], vec![("stage", "dev")]).await,
        set(&["blue-2"]),
        "optional narrows"
    );
    assert_eq!(
        query(client, vec![("color", "blue")], vec![("stage", "qa")]).await,
        set(&["blue-1", "blue-2"]),
        "optional falls back"
    );
    assert!(
        query(client, vec![("color", "green")], vec![])
            .await
            .is_empty()
    );
}

async fn query(
    client: &aws_sdk_servicediscovery::Client,
    q: Vec<(&str, &str)>,
    o: Vec<(&str, &str)>,
) -> BTreeSet<String> {
    let mut request = client
        .discover_instances()
        .namespace_name("params")
        .service_name("api");
    for (k, v) in q {
        request = request.query_parameters(k, v);
    }
    for (k, v) in o {
        request = request.optional_parameters(k, v);
    }
    let out = request.send().await.unwrap();
    out.instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn max_results_truncates_and_the_order_is_random() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "many.local").await;
    let svc = plain_service(client, &ns, "web").await;
    for i in 0..12 {
        register(client, &svc, &format!("i-{i:02}"), "10.0.0.1", &[]).await;
    }
    let out = client
        .discover_instances()
        .namespace_name("many.local")
        .service_name("web")
        .max_results(5)
        .send()
        .await
        .unwrap();
    assert_eq!(out.instances().len(), 5);
    let mut orders = BTreeSet::new();
    for _ in 0..20 {
        let out = client
            .discover_instances()
            .namespace_name("many.local")
            .service_name("web")
            .send()
            .await
            .unwrap();
        assert_eq!(out.instances().len(), 12);
        orders.insert(
            out.instances()
                .iter()
                .map(|i| i.instance_id().unwrap().to_owned())
                .collect::<Vec<_>>(),
        );
    }
    // 20 draws of 12! orders coincide with negligible probability unless the order is fixed.
    assert!(
        orders.len() > 1,
        "DiscoverInstances must randomise the order"
    );
    let err = client
        .discover_instances()
        .namespace_name("many.local")
        .service_name("web")
        .max_results(5000)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidInput"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_names_are_namespace_or_service_not_found() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "known.local").await;
    plain_service(client, &ns, "web").await;
    let err = client
        .discover_instances()
        .namespace_name("unknown.local")
        .service_name("web")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NamespaceNotFound"));
    // AWS's text, which does not repeat the name (kubernetes-sigs/external-dns#5180).
    assert_eq!(err.message(), Some("Namespace not found"));
    let err = client
        .discover_instances_revision()
        .namespace_name("unknown.local")
        .service_name("web")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Some("NamespaceNotFound"), Some("Namespace not found"))
    );
    let err = client
        .discover_instances()
        .namespace_name("known.local")
        .service_name("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ServiceNotFound"));
    // DNS names are case-insensitive, and so is the service lookup in DNS namespaces.
    client
        .discover_instances()
        .namespace_name("known.local")
        .service_name("WEB")
        .send()
        .await
        .unwrap();
    let err = client
        .discover_instances_revision()
        .namespace_name("known.local")
        .service_name("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ServiceNotFound"));
    let err = client
        .discover_instances()
        .namespace_name("known.local")
        .service_name("web")
        .owner_account("999999999999")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("NamespaceNotFound"),
        "another account shares nothing with us"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_revision_moves_on_registration_but_not_on_health_changes() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "rev.local").await;
    let svc = custom_health_service(client, &ns, "web").await;
    register(client, &svc, "a", "10.0.0.1", &[]).await;
    let before = client
        .discover_instances_revision()
        .namespace_name("rev.local")
        .service_name("web")
        .send()
        .await
        .unwrap();
    let discovered = client
        .discover_instances()
        .namespace_name("rev.local")
        .service_name("web")
        .send()
        .await
        .unwrap();
    assert_eq!(before.instances_revision(), discovered.instances_revision());
    client
        .update_instance_custom_health_status()
        .service_id(&svc)
        .instance_id("a")
        .status(CustomHealthStatus::Unhealthy)
        .send()
        .await
        .unwrap();
    let after_health = client
        .discover_instances_revision()
        .namespace_name("rev.local")
        .service_name("web")
        .send()
        .await
        .unwrap();
    assert_eq!(
        before.instances_revision(),
        after_health.instances_revision()
    );
    let op = client
        .deregister_instance()
        .service_id(&svc)
        .instance_id("a")
        .send()
        .await
        .unwrap();
    crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
    let after = client
        .discover_instances_revision()
        .namespace_name("rev.local")
        .service_name("web")
        .send()
        .await
        .unwrap();
    assert!(after.instances_revision() > before.instances_revision());
    register(client, &svc, "b", "10.0.0.2", &[]).await;
    let registered = client
        .discover_instances_revision()
        .namespace_name("rev.local")
        .service_name("web")
        .send()
        .await
        .unwrap();
    assert!(
        registered.instances_revision() > after.instances_revision(),
        "a registration moves it too"
    );
}
