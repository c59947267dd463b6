//! `POST /_reset` and `GET /_state`: refused unless allowed, a reset empties every region's
//! registry (and DNS) at once and durably, the server works as new afterwards, and the dump
//! shows what the AWS API would.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use serde_json::Value;

use crate::dns::{a_records, ask};
use crate::fixtures::{plain_service, private_namespace, register};
use crate::harness::{ServerProcess, TestServer};

async fn post_reset(url: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{url}/_reset"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn state(url: &str) -> Value {
    reqwest::get(format!("{url}/_state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_is_refused_unless_the_server_allows_it() {
    let server = TestServer::start(&[]).await;
    let namespace = private_namespace(&server.client, "kept.local").await;
    let (status, body) = post_reset(&server.url()).await;
    assert_eq!(status, 403);
    assert_eq!(body["__type"], "AccessDeniedException");
    assert!(
        body["Message"].as_str().unwrap().contains("--allow-reset"),
        "{body}"
    );
    server
        .client
        .get_namespace()
        .id(&namespace)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_empties_every_region_and_dns_and_the_server_works_as_new() {
    let server = TestServer::start(&["--allow-reset", "--dns-no-forward"]).await;
    let dns = server.dns.unwrap();
    let namespace = private_namespace(&server.client, "app.local").await;
    let service = plain_service(&server.client, &namespace, "backend-api").await;
    register(&server.client, &service, "i-1", "10.0.0.1", &[]).await;
    let west = server.client_in("us-west-2");
    private_namespace(&west, "west.local").await;
    let before = state(&server.url()).await;
    assert_eq!(
        before["cloudMap"]["us-east-1"]["Services"][0]["Instances"][0]["HealthStatus"], "UNKNOWN",
        "{before}"
    );
    assert_eq!(
        before["cloudMap"]["us-west-2"]["Namespaces"][0]["Name"],
        "west.local"
    );
    assert_eq!(
        a_records(&ask(dns, "backend-api.app.local.", RecordType::A).await),
        crate::dns::set(&["10.0.0.1"])
    );

    let (status, body) = post_reset(&server.url()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reset"], true);

    let after = state(&server.url()).await;
    assert_eq!(after["cloudMap"], serde_json::json!({}), "{after}");
    for client in [&server.client, &west] {
        let namespaces = client.list_namespaces().send().await.unwrap();
        assert!(namespaces.namespaces().is_empty());
        let operations = client.list_operations().send().await.unwrap();
        assert!(operations.operations().is_empty());
    }
    let gone = ask(dns, "backend-api.app.local.", RecordType::A).await;
    assert_eq!(gone.metadata.response_code, ResponseCode::Refused);

    // As new: the same names can be created again, and serve DNS again.
    let namespace = private_namespace(&server.client, "app.local").await;
    let service = plain_service(&server.client, &namespace, "backend-api").await;
    register(&server.client, &service, "i-2", "10.0.0.2", &[]).await;
    assert_eq!(
        a_records(&ask(dns, "backend-api.app.local.", RecordType::A).await),
        crate::dns::set(&["10.0.0.2"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_is_durable_across_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(data.path(), &["--allow-reset"]);
    let client = server.client();
    let namespace = private_namespace(&client, "app.local").await;
    let service = plain_service(&client, &namespace, "backend-api").await;
    register(&client, &service, "i-1", "10.0.0.1", &[]).await;
    let url = format!("http://{}", server.address);
    let owner = state(&url).await["ecs"]["owner"].clone();
    let (status, _) = post_reset(&url).await;
    assert_eq!(status, 200);
    server.kill_hard();

    let server = ServerProcess::spawn(data.path(), &[]);
    let namespaces = server.client().list_namespaces().send().await.unwrap();
    assert!(namespaces.namespaces().is_empty());
    let after = state(&format!("http://{}", server.address)).await;
    assert_eq!(after["cloudMap"], serde_json::json!({}), "{after}");
    assert_eq!(after["ecs"]["clusters"], serde_json::json!([]));
    // The owner label of the server's containers survives the reset and the restart, so the
    // containers of before the crash are still recognised as this server's.
    assert!(owner.as_str().is_some_and(|o| o.len() >= 8), "{owner}");
    assert_eq!(after["ecs"]["owner"], owner);
}
