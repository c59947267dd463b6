//! Crash safety: SIGKILL the real binary in the middle of a burst of writes, restart it on the
//! same data directory, and check that every acknowledged write is there (and that acknowledged
//! asynchronous operations are resumed to SUCCESS).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_servicediscovery::Client;
use aws_sdk_servicediscovery::config::retry::RetryConfig;
use aws_sdk_servicediscovery::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_servicediscovery::types::{OperationStatus, OperationTargetType, RecordType};
use parking_lot::Mutex;
use tokio::task::JoinSet;

use crate::fixtures::{plain_service, private_namespace, records, wait_operation};
use crate::harness::{ServerProcess, eventually};

/// Concurrent clients in a burst.
const TASKS: usize = 16;
/// How long anything that should happen soon may take (a deadline, not a wait).
const TIMEOUT: Duration = Duration::from_secs(15);
/// Long enough that nothing acknowledged in a round completes before the kill.
const NEVER_BEFORE_THE_KILL: &str = "30s";

/// A client that gives up at the first error: after the kill, requests fail fast instead of
/// backing off and retrying.
fn client_without_retries(server: &ServerProcess) -> Client {
    let config = server
        .client()
        .config()
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

/// What a burst sent and what the server acknowledged.
#[derive(Default)]
struct Burst {
    /// Every key a request was sent for (the server may have committed unacknowledged ones).
    attempted: BTreeSet<String>,
    /// Acknowledged keys, with what the server answered (an operation id, a service id).
    acknowledged: BTreeMap<String, String>,
}

/// Sends requests from [`TASKS`] concurrent tasks, each key `{prefix}-t{task}-{n}`, until
/// `target` have been acknowledged, then SIGKILLs the server with requests still in flight and
/// returns what was sent and acknowledged. A failure before the kill fails the test.
async fn burst_then_kill<F, Fut>(
    server: ServerProcess,
    prefix: &str,
    target: usize,
    request: F,
) -> Burst
where
    F: Fn(Client, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, String>> + Send,
{
    let client = client_without_retries(&server);
    let request = Arc::new(request);
    let burst = Arc::new(Mutex::new(Burst::default()));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let unexpected = Arc::new(Mutex::new(None::<String>));
    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let (client, request, burst) = (client.clone(), Arc::clone(&request), Arc::clone(&burst));
        let (acknowledged, killed, unexpected) = (
            Arc::clone(&acknowledged),
            Arc::clone(&killed),
            Arc::clone(&unexpected),
        );
        let prefix = format!("{prefix}-t{task}");
        tasks.spawn(async move {
            for n in 0.. {
                let key = format!("{prefix}-{n}");
                burst.lock().attempted.insert(key.clone());
                match request(client.clone(), key.clone()).await {
                    Ok(answer) => {
                        burst.lock().acknowledged.insert(key, answer);
                        acknowledged.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(error) => {
                        if !killed.load(Ordering::SeqCst) {
                            *unexpected.lock() =
                                Some(format!("{key} failed before the kill: {error}"));
                        }
                        return;
                    }
                }
            }
        });
    }
    eventually(TIMEOUT, || async {
        if let Some(error) = unexpected.lock().clone() {
            panic!("{error}");
        }
        (acknowledged.load(Ordering::SeqCst) >= target).then_some(())
    })
    .await;
    killed.store(true, Ordering::SeqCst);
    server.kill_hard();
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
    }
    let burst = std::mem::take(&mut *burst.lock());
    assert!(burst.acknowledged.len() >= target);
    burst
}

/// Every instance id of a service, through every ListInstances page.
async fn instance_ids(client: &Client, service_id: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut token = None;
    loop {
        let page = client
            .list_instances()
            .service_id(service_id)
            .max_results(100)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        ids.extend(
            page.instances()
                .iter()
                .map(|instance| instance.id().unwrap().to_owned()),
        );
        match page.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => return ids,
        }
    }
}

/// Every service (id → name), through every ListServices page.
async fn services(client: &Client) -> BTreeMap<String, String> {
    let mut services = BTreeMap::new();
    let mut token = None;
    loop {
        let page = client
            .list_services()
            .max_results(100)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        for service in page.services() {
            services.insert(
                service.id().unwrap().to_owned(),
                service.name().unwrap().to_owned(),
            );
        }
        match page.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => return services,
        }
    }
}

/// Checks, from [`TASKS`] concurrent tasks, that each (instance id, operation id) reaches SUCCESS
/// with the instance as its target.
async fn assert_operations_succeed(client: &Client, operations: &BTreeMap<String, String>) {
    let operations: Vec<(String, String)> = operations
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut checks = JoinSet::new();
    for chunk in operations.chunks(operations.len().div_ceil(TASKS).max(1)) {
        let (client, chunk) = (client.clone(), chunk.to_vec());
        checks.spawn(async move {
            for (instance_id, operation_id) in chunk {
                assert_eq!(
                    wait_operation(&client, &operation_id).await,
                    OperationStatus::Success,
                    "{instance_id}"
                );
                let operation = client
                    .get_operation()
                    .operation_id(&operation_id)
                    .send()
                    .await
                    .unwrap();
                let targets = operation.operation().unwrap().targets().unwrap();
                assert_eq!(
                    targets[&OperationTargetType::Instance],
                    instance_id,
                    "{operation_id}"
                );
            }
        });
    }
    while let Some(joined) = checks.join_next().await {
        joined.unwrap();
    }
}

/// Restarts the server on `data` and polls until every `acknowledged` instance is listed; checks
/// that nothing appeared that was never `sent`.
async fn restart_and_expect_instances(
    data: &Path,
    service_id: &str,
    acknowledged: &BTreeSet<String>,
    sent: &BTreeSet<String>,
) -> ServerProcess {
    let server = ServerProcess::spawn(data, &[]);
    let client = server.client();
    let listed = eventually(TIMEOUT, || async {
        let listed = instance_ids(&client, service_id).await;
        acknowledged.is_subset(&listed).then_some(listed)
    })
    .await;
    // Committed but unacknowledged registrations may show up (now or after a later restart).
    let unacknowledged: Vec<_> = listed.difference(acknowledged).collect();
    let strays: Vec<_> = unacknowledged
        .iter()
        .filter(|id| !sent.contains(**id))
        .collect();
    assert!(
        strays.is_empty(),
        "instances that were never registered: {strays:?}"
    );
    println!(
        "{} acknowledged, {} sent; after the restart {} listed, of which {} were never acknowledged",
        acknowledged.len(),
        sent.len(),
        listed.len(),
        unacknowledged.len()
    );
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_registrations_survive_repeated_kill_9() {
    const ROUNDS: usize = 5;
    const ACKNOWLEDGED_PER_ROUND: usize = 250;
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(data.path(), &[]);
    let namespace_id = private_namespace(&server.client(), "crash.local").await;
    let service_id = plain_service(&server.client(), &namespace_id, "backend").await;
    server.kill_hard();

    let (mut acknowledged, mut sent) = (BTreeSet::new(), BTreeSet::new());
    for round in 0..ROUNDS {
        // Odd rounds keep every acknowledged registration SUBMITTED until the kill, so the
        // restarted server must resume them; even rounds race the kill against completion.
        let delay = if round % 2 == 1 {
            NEVER_BEFORE_THE_KILL
        } else {
            "0"
        };
        let server = ServerProcess::spawn(data.path(), &["--operation-delay", delay]);
        let service = service_id.clone();
        let burst = burst_then_kill(
            server,
            &format!("r{round}"),
            ACKNOWLEDGED_PER_ROUND,
            move |client, instance_id| {
                let service = service.clone();
                async move {
                    let answer = client
                        .register_instance()
                        .service_id(service)
                        .instance_id(instance_id)
                        .attributes("AWS_INSTANCE_IPV4", "10.0.0.1")
                        .send()
                        .await
                        .map_err(|error| DisplayErrorContext(error).to_string())?;
                    Ok(answer.operation_id().unwrap().to_owned())
                }
            },
        )
        .await;
        acknowledged.extend(burst.acknowledged.keys().cloned());
        sent.extend(burst.attempted);

        let server =
            restart_and_expect_instances(data.path(), &service_id, &acknowledged, &sent).await;
        assert_operations_succeed(&server.client(), &burst.acknowledged).await;
        // GetService has no InstanceCount (as on AWS); ListServices' summaries do.
        let services = server.client().list_services().send().await.unwrap();
        let count = services
            .services()
            .iter()
            .find(|service| service.id() == Some(service_id.as_str()))
            .and_then(|service| service.instance_count())
            .unwrap();
        assert!(
            usize::try_from(count).unwrap() >= acknowledged.len(),
            "InstanceCount {count} < {}",
            acknowledged.len()
        );
        server.kill_hard();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_service_creations_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(data.path(), &[]);
    let namespace_id = private_namespace(&server.client(), "app.local").await;
    // One service created alone, killed right after its acknowledgement.
    let backend = plain_service(&server.client(), &namespace_id, "backend-api").await;
    server.kill_hard();
    let server = ServerProcess::spawn(data.path(), &[]);
    let client = server.client();
    let namespace = client
        .get_namespace()
        .id(&namespace_id)
        .send()
        .await
        .unwrap();
    assert_eq!(namespace.namespace().unwrap().name(), Some("app.local"));
    let service = client.get_service().id(&backend).send().await.unwrap();
    let service = service.service().unwrap();
    assert_eq!(service.name(), Some("backend-api"));
    assert_eq!(service.namespace_id(), Some(namespace_id.as_str()));
    let ttls: Vec<_> = service
        .dns_config()
        .unwrap()
        .dns_records()
        .iter()
        .map(|record| record.ttl())
        .collect();
    assert_eq!(ttls, [60]);

    // Then a burst of CreateService calls, killed mid-flight.
    let namespace = namespace_id.clone();
    let burst = burst_then_kill(server, "svc", 100, move |client, name| {
        let namespace = namespace.clone();
        async move {
            let created = client
                .create_service()
                .name(name)
                .namespace_id(namespace)
                .dns_config(records(&[(RecordType::A, 60)]))
                .send()
                .await
                .map_err(|error| DisplayErrorContext(error).to_string())?;
            Ok(created.service().unwrap().id().unwrap().to_owned())
        }
    })
    .await;

    let server = ServerProcess::spawn(data.path(), &[]);
    let client = server.client();
    let listed = services(&client).await;
    assert_eq!(
        listed.get(&backend).map(String::as_str),
        Some("backend-api")
    );
    for (name, id) in &burst.acknowledged {
        assert_eq!(
            listed.get(id),
            Some(name),
            "acknowledged service {name} ({id}) is missing after the restart"
        );
    }
    for (id, name) in &listed {
        assert!(
            *id == backend || burst.attempted.contains(name),
            "a service that was never created: {name} ({id})"
        );
    }
    let namespace = client
        .get_namespace()
        .id(&namespace_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        namespace.namespace().unwrap().service_count(),
        Some(i32::try_from(listed.len()).unwrap())
    );
    // The name index came back too: the same name is taken.
    let again = client
        .create_service()
        .name("backend-api")
        .namespace_id(&namespace_id)
        .dns_config(records(&[(RecordType::A, 60)]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(again.code(), Some("ServiceAlreadyExists"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_namespace_creation_completes_after_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(data.path(), &["--operation-delay", NEVER_BEFORE_THE_KILL]);
    let client = server.client();
    let created = client
        .create_private_dns_namespace()
        .name("app.local")
        .vpc("vpc-default")
        .send()
        .await
        .unwrap();
    let operation_id = created.operation_id().unwrap().to_owned();
    let operation = client
        .get_operation()
        .operation_id(&operation_id)
        .send()
        .await
        .unwrap();
    let operation = operation.operation().unwrap();
    assert_eq!(operation.status(), Some(&OperationStatus::Submitted));
    let namespace_id = operation.targets().unwrap()[&OperationTargetType::Namespace].clone();
    server.kill_hard();

    let server = ServerProcess::spawn(data.path(), &[]);
    let client = server.client();
    assert_eq!(
        wait_operation(&client, &operation_id).await,
        OperationStatus::Success
    );
    let namespace = client
        .get_namespace()
        .id(&namespace_id)
        .send()
        .await
        .unwrap();
    assert_eq!(namespace.namespace().unwrap().name(), Some("app.local"));
    // Only one namespace, however many times the operation was driven.
    let namespaces = client.list_namespaces().send().await.unwrap();
    assert_eq!(namespaces.namespaces().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_server_on_a_held_data_directory_refuses_to_start_until_the_holder_dies() {
    let data = tempfile::tempdir().unwrap();
    let first = ServerProcess::spawn(data.path(), &[]);
    let client = first.client();
    let namespace_id = private_namespace(&client, "app.local").await;
    let service_id = plain_service(&client, &namespace_id, "backend-api").await;
    let before = instance_ids(&client, &service_id).await;

    let dir = data.path().to_str().unwrap();
    let (status, stderr) = crate::harness::run_to_exit(&[
        "--listen",
        "127.0.0.1:0",
        "--dns-listen",
        "127.0.0.1:0",
        "--data-dir",
        dir,
    ]);
    assert!(!status.success(), "the second server exited with {status}");
    let directory = data.path().display().to_string();
    let holder = format!("PID {}", first.pid());
    assert!(
        stderr.contains(&directory) && stderr.contains(&holder) && stderr.contains("--data-dir"),
        "the refusal does not name the directory, the holder ({holder}) and the flag: {stderr}"
    );
    // The first server is untouched: it still serves its state and takes writes.
    assert_eq!(instance_ids(&client, &service_id).await, before);
    crate::fixtures::register(&client, &service_id, "i-after", "10.0.0.9", &[]).await;

    // The kernel frees the lock with the holder: a restart after kill -9 is not blocked.
    first.kill_hard();
    let restarted = ServerProcess::spawn(data.path(), &[]);
    let ids = instance_ids(&restarted.client(), &service_id).await;
    assert!(ids.contains("i-after"), "{ids:?}");
}
