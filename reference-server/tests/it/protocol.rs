//! The wire protocol seen raw: routing on X-Amz-Target on any Host, AWS-shaped errors with the
//! Coral validation messages, timestamps as epoch-second numbers, request ids, the body limit,
//! region partitioning, /health and /metrics.

use serde_json::{Value, json};

use crate::harness::TestServer;

async fn call(
    server: &TestServer,
    host: &str,
    target: &str,
    body: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(server.url())
        .header("host", host)
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.1")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, headers, value)
}

const PREFIX: &str = "Route53AutoNaming_v20170314";

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_is_served_on_any_host() {
    let server = TestServer::start(&[]).await;
    for host in [
        "localhost",
        "data-localhost",
        "data-cloudmap.localtest.me:5373",
        "127.0.0.1",
    ] {
        let (status, headers, body) =
            call(&server, host, &format!("{PREFIX}.ListNamespaces"), "{}").await;
        assert_eq!(status, 200, "{host}: {body}");
        assert_eq!(headers["content-type"], "application/x-amz-json-1.1");
        assert_eq!(headers["x-amzn-requestid"].len(), 36);
        let (status, _, body) = call(
            &server,
            host,
            &format!("{PREFIX}.DiscoverInstances"),
            r#"{"NamespaceName":"x","ServiceName":"y"}"#,
        )
        .await;
        assert_eq!(
            (status, body["__type"].as_str()),
            (400, Some("NamespaceNotFound")),
            "{host}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_aws_shaped() {
    let server = TestServer::start(&[]).await;
    let (status, headers, body) =
        call(&server, "h", "Route53AutoNaming_v20170314.Bogus", "{}").await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "UnknownOperationException");
    assert_eq!(headers["x-amzn-errortype"], "UnknownOperationException");
    let (status, _, body) = call(&server, "h", "SomethingElse.ListNamespaces", "{}").await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("UnknownOperationException"))
    );
    let (status, _, body) = call(
        &server,
        "h",
        &format!("{PREFIX}.ListNamespaces"),
        "{not json",
    )
    .await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("SerializationException"))
    );
    let (status, _, body) = call(&server, "h", &format!("{PREFIX}.ListNamespaces"), "[1,2]").await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("SerializationException"))
    );
    let (status, _, body) = call(
        &server,
        "h",
        &format!("{PREFIX}.ListNamespaces"),
        r#"{"MaxResults":"many"}"#,
    )
    .await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("SerializationException"))
    );
    let (status, _, body) = call(&server, "h", &format!("{PREFIX}.GetNamespace"), "{}").await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "InvalidInput");
    assert_eq!(
        body["Message"],
        "1 validation error detected: Value null at 'id' failed to satisfy constraint: Member must not be null"
    );
    let (_, _, body) = call(
        &server,
        "h",
        &format!("{PREFIX}.UpdateHttpNamespace"),
        r#"{"Id":"ns-x","Namespace":{}}"#,
    )
    .await;
    assert_eq!(
        body["__type"], "InvalidInput",
        "UpdateHttpNamespace requires Namespace.Description"
    );
    let long = "a".repeat(2000);
    let (_, _, body) = call(
        &server,
        "h",
        &format!("{PREFIX}.CreateHttpNamespace"),
        &json!({"Name": long}).to_string(),
    )
    .await;
    assert_eq!(body["__type"], "InvalidInput");
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .contains("length less than or equal to 1024"),
        "{body}"
    );
    let (_, _, body) = call(
        &server,
        "h",
        &format!("{PREFIX}.DiscoverInstances"),
        r#"{"NamespaceName":"x","ServiceName":"y","HealthStatus":"BOGUS","MaxResults":5000}"#,
    )
    .await;
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .starts_with("2 validation errors detected"),
        "{body}"
    );
    let (status, _, body) = call(&server, "h", &format!("{PREFIX}.RegisterInstance"), "{}").await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("InvalidInput"))
    );
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .starts_with("3 validation errors detected"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_is_invalid_input() {
    let server = TestServer::start(&["--max-body-bytes", "1024"]).await;
    let body = json!({"Name": "n", "Description": "d".repeat(4096)}).to_string();
    let (status, _, body) = call(
        &server,
        "h",
        &format!("{PREFIX}.CreateHttpNamespace"),
        &body,
    )
    .await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("InvalidInput"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn timestamps_are_epoch_second_numbers_with_milliseconds() {
    let server = TestServer::start(&[]).await;
    let (_, _, body) = call(
        &server,
        "h",
        &format!("{PREFIX}.CreateHttpNamespace"),
        r#"{"Name":"t"}"#,
    )
    .await;
    let op_id = body["OperationId"].as_str().unwrap().to_owned();
    let (_, _, op) = call(
        &server,
        "h",
        &format!("{PREFIX}.GetOperation"),
        &json!({"OperationId": op_id}).to_string(),
    )
    .await;
    let created = &op["Operation"]["CreateDate"];
    assert!(created.is_f64() || created.is_u64(), "{op}");
    let seconds = created.as_f64().unwrap();
    assert!(seconds > 1.7e9 && seconds < 4e9, "{seconds}");
    assert_eq!(
        (seconds * 1000.0).round() / 1000.0,
        seconds,
        "millisecond precision"
    );
}

/// A service's JSON as AWS's own output shows it (awscli examples/servicediscovery/get-service.rst,
/// create-service.rst, list-services.rst): a service without DNS records has `"DnsConfig": {}`,
/// CreateService and GetService carry no InstanceCount, ListServices' summaries do.
#[tokio::test(flavor = "multi_thread")]
async fn service_json_follows_observed_aws_output() {
    let server = TestServer::start(&[]).await;
    let target = |operation: &str| format!("{PREFIX}.{operation}");
    let (_, _, created) = call(
        &server,
        "localhost",
        &target("CreateHttpNamespace"),
        r#"{"Name":"observed.example"}"#,
    )
    .await;
    let body = json!({ "OperationId": created["OperationId"] }).to_string();
    let (_, _, op) = call(&server, "localhost", &target("GetOperation"), &body).await;
    let namespace = op["Operation"]["Targets"]["NAMESPACE"].clone();
    let body = json!({ "Name": "test-service", "NamespaceId": namespace }).to_string();
    let (status, _, created) = call(&server, "localhost", &target("CreateService"), &body).await;
    assert_eq!(status, 200, "{created}");
    let service = &created["Service"];
    assert_eq!(service["DnsConfig"], json!({}), "{service}");
    assert_eq!(service["Type"], "HTTP");
    assert!(service.get("InstanceCount").is_none(), "{service}");
    let body = json!({ "Id": service["Id"] }).to_string();
    let (_, _, got) = call(&server, "localhost", &target("GetService"), &body).await;
    assert_eq!(got["Service"]["DnsConfig"], json!({}), "{got}");
    assert!(got["Service"].get("InstanceCount").is_none(), "{got}");
    let (_, _, listed) = call(&server, "localhost", &target("ListServices"), "{}").await;
    assert_eq!(listed["Services"][0]["DnsConfig"], json!({}), "{listed}");
    assert_eq!(listed["Services"][0]["InstanceCount"], 0, "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn state_is_partitioned_by_the_signing_region() {
    let server = TestServer::start(&[]).await;
    let east = &server.client;
    let west = server.client_in("eu-west-1");
    crate::fixtures::http_namespace(east, "regional").await;
    assert_eq!(
        east.list_namespaces()
            .send()
            .await
            .unwrap()
            .namespaces()
            .len(),
        1
    );
    assert!(
        west.list_namespaces()
            .send()
            .await
            .unwrap()
            .namespaces()
            .is_empty()
    );
    // The same name in another region is a different namespace.
    crate::fixtures::http_namespace(&west, "regional").await;
    let arn = west.list_namespaces().send().await.unwrap().namespaces()[0]
        .arn()
        .unwrap()
        .to_owned();
    assert!(
        arn.starts_with("arn:aws:servicediscovery:eu-west-1:123456789012:namespace/"),
        "{arn}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_metrics_endpoints() {
    let server = TestServer::start(&[]).await;
    crate::fixtures::http_namespace(&server.client, "m").await;
    let health = reqwest::get(format!("{}/health", server.url()))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["namespaces"], 1);
    let metrics = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "cloudmap_requests_total{operation=\"CreateHttpNamespace\",outcome=\"ok\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("cloudmap_request_duration_seconds_count{operation=\"GetOperation\"}")
    );
    assert!(metrics.contains("cloudmap_registry_size{kind=\"namespaces\"} 1"));
}

#[test]
fn a_taken_address_is_named_with_the_flag_that_sets_it() {
    let api = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api_address = api.local_addr().unwrap().to_string();
    let (status, stderr) = crate::harness::run_to_exit(&[
        "--ephemeral",
        "--listen",
        &api_address,
        "--dns-listen",
        "127.0.0.1:0",
    ]);
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("cannot listen on {api_address} (the API)"))
            && stderr.contains("--listen"),
        "{stderr}"
    );
    let dns = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dns_address = dns.local_addr().unwrap().to_string();
    let (status, stderr) = crate::harness::run_to_exit(&[
        "--ephemeral",
        "--listen",
        "127.0.0.1:0",
        "--dns-listen",
        &dns_address,
    ]);
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("cannot listen on {dns_address} (DNS)"))
            && stderr.contains("--dns-listen"),
        "{stderr}"
    );
}

#[test]
fn flags_that_break_a_rule_between_them_are_a_usage_error() {
    let (status, stderr) = crate::harness::run_to_exit(&[
        "--ephemeral",
        "--health-interval",
        "2s",
        "--health-timeout",
        "5s",
    ]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("must be at most --health-interval"),
        "{stderr}"
    );
}
