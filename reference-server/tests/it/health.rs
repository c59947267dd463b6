//! Active health checks against real HTTP, HTTPS and TCP servers on 127.0.0.1 that change their
//! minds, seen through GetInstancesHealthStatus, DiscoverInstances and DNS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::time::Duration;

use aws_sdk_servicediscovery::types::{
    CustomHealthStatus, HealthCheckConfig, HealthCheckType, HealthStatusFilter, RecordType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::fixtures::{custom_health_service, private_namespace, records, register};
use crate::harness::{TestServer, eventually};

/// An HTTP endpoint whose status code (and silence) the test sets; counts the probes it answers
/// (each counted once it has read the status it answers with, see `answer`).
struct Endpoint {
    address: SocketAddr,
    status: Arc<AtomicU16>,
    probes: Arc<AtomicU32>,
}

/// Status 0 means: accept the connection and never answer (a timeout).
async fn endpoint(tls: bool) -> Endpoint {
    endpoint_on("127.0.0.1", tls).await
}

async fn endpoint_on(ip: &str, tls: bool) -> Endpoint {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let address = listener.local_addr().unwrap();
    let status = Arc::new(AtomicU16::new(200));
    let probes = Arc::new(AtomicU32::new(0));
    let acceptor = tls.then(|| {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let (status_in, probes_in) = (Arc::clone(&status), Arc::clone(&probes));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (status, probes, acceptor) = (
                Arc::clone(&status_in),
                Arc::clone(&probes_in),
                acceptor.clone(),
            );
            tokio::spawn(async move {
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            serve(stream, &status, &probes).await;
                        }
                    }
                    None => serve(stream, &status, &probes).await,
                }
            });
        }
    });
    Endpoint {
        address,
        status,
        probes,
    }
}

async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    status: &AtomicU16,
    probes: &AtomicU32,
) {
    let mut request = [0u8; 1024];
    let _ = stream.read(&mut request).await;
    let code = status.load(Ordering::SeqCst);
    // Counted after the status is read: a probe counted after `answer` returned answers with
    // the new status (see `answer`).
    probes.fetch_add(1, Ordering::SeqCst);
    if code == 0 {
        // Hold the connection open without answering until the prober gives up.
        tokio::time::sleep(Duration::from_secs(5)).await;
        return;
    }
    let reason = if code < 400 { "OK" } else { "Error" };
    let response = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nLocation: /elsewhere\r\nConnection: close\r\n\r\n"
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn check(kind: HealthCheckType, threshold: i32) -> HealthCheckConfig {
    let mut builder = HealthCheckConfig::builder()
        .r#type(kind.clone())
        .failure_threshold(threshold);
    if kind != HealthCheckType::Tcp {
        builder = builder.resource_path("/health");
    }
    builder.build().unwrap()
}

const INTERVAL: &str = "100ms";

async fn checked_service(
    server: &TestServer,
    namespace: &str,
    kind: HealthCheckType,
    threshold: i32,
) -> String {
    let ns = private_namespace(&server.client, namespace).await;
    let created = server
        .client
        .create_service()
        .name("web")
        .namespace_id(&ns)
        .dns_config(records(&[(RecordType::A, 5)]))
        .health_check_config(check(kind, threshold))
        .send()
        .await
        .unwrap();
    created.service().unwrap().id().unwrap().to_owned()
}

async fn status_of(server: &TestServer, service: &str, instance: &str) -> String {
    let status = server
        .client
        .get_instances_health_status()
        .service_id(service)
        .instances(instance)
        .send()
        .await
        .unwrap();
    status.status().unwrap()[instance].as_str().to_owned()
}

async fn wait_status(server: &TestServer, service: &str, instance: &str, want: &str) {
    eventually(Duration::from_secs(10), || async {
        (status_of(server, service, instance).await == want).then_some(())
    })
    .await;
}

impl Endpoint {
    /// Answers `code` from now on; returns the probe count from before the change, so that
    /// `probes_after` counts no probe that answered with the old status before it (one that read
    /// the old status may still be counted after: waiting for N probes sees at most N new ones).
    fn answer(&self, code: u16) -> u32 {
        let before = self.probes.load(Ordering::SeqCst);
        self.status.store(code, Ordering::SeqCst);
        before
    }
}

/// Waits until `endpoint` has answered `count` more probes than `since`.
async fn probes_after(endpoint: &Endpoint, since: u32, count: u32) {
    eventually(Duration::from_secs(10), || async {
        (endpoint.probes.load(Ordering::SeqCst) >= since + count).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failure_threshold_is_honoured_exactly_in_both_directions() {
    let server = TestServer::start(&["--health-interval", "200ms"]).await;
    let svc = checked_service(&server, "thr.local", HealthCheckType::Http, 3).await;
    let up = endpoint(false).await;
    register(
        &server.client,
        &svc,
        "i-1",
        "127.0.0.1",
        &[("AWS_INSTANCE_PORT", &up.address.port().to_string())],
    )
    .await;
    // Until its first probe (started at a random point of the interval) it is UNKNOWN.
    let before = status_of(&server, &svc, "i-1").await;
    if up.probes.load(Ordering::SeqCst) == 0 {
        assert_eq!(before, "UNKNOWN", "not probed yet");
    }
    wait_status(&server, &svc, "i-1", "HEALTHY").await;
    let since = up.answer(500);
    // Two failures are not enough...
    probes_after(&up, since, 2).await;
    assert_eq!(
        status_of(&server, &svc, "i-1").await,
        "HEALTHY",
        "2 of 3 failures"
    );
    // ...the third is.
    wait_status(&server, &svc, "i-1", "UNHEALTHY").await;
    let failures_seen = up.answer(200);
    probes_after(&up, failures_seen, 2).await;
    assert_eq!(
        status_of(&server, &svc, "i-1").await,
        "UNHEALTHY",
        "2 of 3 successes"
    );
    wait_status(&server, &svc, "i-1", "HEALTHY").await;
    assert!(up.probes.load(Ordering::SeqCst) >= failures_seen + 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_backend_leaves_dns_and_discovery() {
    let server = TestServer::start(&["--health-interval", INTERVAL]).await;
    let svc = checked_service(&server, "fail.local", HealthCheckType::Http, 1).await;
    let (a, b) = (endpoint(false).await, endpoint_on("127.0.0.2", false).await);
    register(
        &server.client,
        &svc,
        "a",
        "127.0.0.1",
        &[("AWS_INSTANCE_PORT", &a.address.port().to_string())],
    )
    .await;
    register(
        &server.client,
        &svc,
        "b",
        "127.0.0.2",
        &[("AWS_INSTANCE_PORT", &b.address.port().to_string())],
    )
    .await;
    wait_status(&server, &svc, "a", "HEALTHY").await;
    wait_status(&server, &svc, "b", "HEALTHY").await;
    // 302 counts as healthy (200-399), 500 and a timeout as failures.
    let since = a.answer(302);
    b.answer(500);
    wait_status(&server, &svc, "b", "UNHEALTHY").await;
    probes_after(&a, since, 2).await;
    assert_eq!(
        status_of(&server, &svc, "a").await,
        "HEALTHY",
        "a redirect is a success"
    );
    let discovered = server
        .client
        .discover_instances()
        .namespace_name("fail.local")
        .service_name("web")
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = discovered
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap())
        .collect();
    assert_eq!(ids, ["a"]);
    a.answer(0);
    wait_status(&server, &svc, "a", "UNHEALTHY").await;
    // All unhealthy: HEALTHY_OR_ELSE_ALL fails open, and DNS answers with the unhealthy ones.
    let all = server
        .client
        .discover_instances()
        .namespace_name("fail.local")
        .service_name("web")
        .health_status(HealthStatusFilter::HealthyOrElseAll)
        .send()
        .await
        .unwrap();
    assert_eq!(all.instances().len(), 2);
    let healthy_only = server
        .client
        .discover_instances()
        .namespace_name("fail.local")
        .service_name("web")
        .send()
        .await
        .unwrap();
    assert!(healthy_only.instances().is_empty());
    let dns = server.dns.unwrap();
    assert_eq!(
        dig_short(dns, "web.fail.local"),
        ["127.0.0.1", "127.0.0.2"],
        "all unhealthy: Route 53 answers with them all"
    );
    b.answer(200);
    wait_status(&server, &svc, "b", "HEALTHY").await;
    assert_eq!(dig_short(dns, "web.fail.local"), ["127.0.0.2"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_and_https_checks() {
    let server = TestServer::start(&["--health-interval", INTERVAL]).await;
    let tcp_svc = checked_service(&server, "tcp.local", HealthCheckType::Tcp, 1).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    register(
        &server.client,
        &tcp_svc,
        "t",
        "127.0.0.1",
        &[("AWS_INSTANCE_PORT", &port.to_string())],
    )
    .await;
    wait_status(&server, &tcp_svc, "t", "HEALTHY").await;
    drop(listener);
    wait_status(&server, &tcp_svc, "t", "UNHEALTHY").await;

    let https_svc = checked_service(&server, "tls.local", HealthCheckType::Https, 1).await;
    let secure = endpoint(true).await;
    register(
        &server.client,
        &https_svc,
        "s",
        "127.0.0.1",
        &[("AWS_INSTANCE_PORT", &secure.address.port().to_string())],
    )
    .await;
    wait_status(&server, &https_svc, "s", "HEALTHY").await;
    secure.answer(503);
    wait_status(&server, &https_svc, "s", "UNHEALTHY").await;

    let metrics = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |line: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {line} in {metrics}"))
    };
    assert!(value("cloudmap_health_probes_total{result=\"success\"}") >= 2);
    assert!(value("cloudmap_health_probes_total{result=\"failure\"}") >= 2);
    assert!(value("cloudmap_health_changes_total{to=\"HEALTHY\"}") >= 2);
    assert!(value("cloudmap_health_changes_total{to=\"UNHEALTHY\"}") >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn probing_stops_when_the_instance_goes_away() {
    let server = TestServer::start(&["--health-interval", INTERVAL]).await;
    let svc = checked_service(&server, "stop.local", HealthCheckType::Http, 1).await;
    let up = endpoint(false).await;
    register(
        &server.client,
        &svc,
        "i-1",
        "127.0.0.1",
        &[("AWS_INSTANCE_PORT", &up.address.port().to_string())],
    )
    .await;
    wait_status(&server, &svc, "i-1", "HEALTHY").await;
    let op = server
        .client
        .deregister_instance()
        .service_id(&svc)
        .instance_id("i-1")
        .send()
        .await
        .unwrap();
    crate::fixtures::succeed(&server.client, op.operation_id().unwrap()).await;
    // Watch a second, busy instance for ten intervals; the deregistered one must get nothing.
    let other = endpoint(false).await;
    register(
        &server.client,
        &svc,
        "i-2",
        "127.0.0.1",
        &[("AWS_INSTANCE_PORT", &other.address.port().to_string())],
    )
    .await;
    let after = up.probes.load(Ordering::SeqCst);
    probes_after(&other, other.probes.load(Ordering::SeqCst), 10).await;
    assert!(
        up.probes.load(Ordering::SeqCst) <= after + 1,
        "at most one probe was already in flight"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_health_waits_out_the_propagation_delay() {
    let server = TestServer::start(&["--custom-health-delay", "2s"]).await;
    let ns = private_namespace(&server.client, "delay.local").await;
    let svc = custom_health_service(&server.client, &ns, "web").await;
    register(&server.client, &svc, "i-1", "10.0.0.1", &[]).await;
    server
        .client
        .update_instance_custom_health_status()
        .service_id(&svc)
        .instance_id("i-1")
        .status(CustomHealthStatus::Unhealthy)
        .send()
        .await
        .unwrap();
    assert_eq!(status_of(&server, &svc, "i-1").await, "HEALTHY", "not yet");
    wait_status(&server, &svc, "i-1", "UNHEALTHY").await;
    // Asking for the current status again within the delay cancels a pending change.
    server
        .client
        .update_instance_custom_health_status()
        .service_id(&svc)
        .instance_id("i-1")
        .status(CustomHealthStatus::Healthy)
        .send()
        .await
        .unwrap();
    server
        .client
        .update_instance_custom_health_status()
        .service_id(&svc)
        .instance_id("i-1")
        .status(CustomHealthStatus::Unhealthy)
        .send()
        .await
        .unwrap();
    // The pending HEALTHY was cancelled by asking for UNHEALTHY (the current status); it stays.
    let other = crate::fixtures::custom_health_service(&server.client, &ns, "marker").await;
    register(&server.client, &other, "m", "10.0.0.2", &[]).await;
    server
        .client
        .update_instance_custom_health_status()
        .service_id(&other)
        .instance_id("m")
        .status(CustomHealthStatus::Unhealthy)
        .send()
        .await
        .unwrap();
    wait_status(&server, &other, "m", "UNHEALTHY").await;
    assert_eq!(status_of(&server, &svc, "i-1").await, "UNHEALTHY");
}

/// The sorted `dig +short` A answers for `name` from the server's DNS (the real dig).
fn dig_short(dns: std::net::SocketAddr, name: &str) -> Vec<String> {
    let output = std::process::Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &dns.port().to_string(),
            "+short",
            name,
            "A",
        ])
        .output()
        .unwrap();
    let mut lines: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}
