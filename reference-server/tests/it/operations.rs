//! ListOperations filters and pagination, GetOperation errors.

use aws_sdk_servicediscovery::error::ProvideErrorMetadata;
use aws_sdk_servicediscovery::types::{FilterCondition, OperationFilter, OperationFilterName};

use crate::fixtures::{plain_service, private_namespace, register};
use crate::harness::TestServer;

fn filter(
    name: OperationFilterName,
    condition: FilterCondition,
    values: &[&str],
) -> OperationFilter {
    let mut builder = OperationFilter::builder().name(name).condition(condition);
    for value in values {
        builder = builder.values(*value);
    }
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn list_operations_filters_by_type_status_target_and_date() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "ops.local").await;
    let svc = plain_service(client, &ns, "svc").await;
    for i in 0..3 {
        register(client, &svc, &format!("i-{i}"), "10.0.0.1", &[]).await;
    }
    let ids = |out: &aws_sdk_servicediscovery::operation::list_operations::ListOperationsOutput| {
        out.operations().len()
    };
    let all = client.list_operations().send().await.unwrap();
    assert_eq!(ids(&all), 4);
    let registrations = client
        .list_operations()
        .filters(filter(
            OperationFilterName::Type,
            FilterCondition::Eq,
            &["REGISTER_INSTANCE"],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ids(&registrations), 3);
    let done = client
        .list_operations()
        .filters(filter(
            OperationFilterName::Status,
            FilterCondition::In,
            &["PENDING", "SUCCESS"],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ids(&done), 4);
    let alias = client
        .list_operations()
        .filters(filter(
            OperationFilterName::Status,
            FilterCondition::Eq,
            &["SUCCEED"],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ids(&alias), 4, "SUCCEED is accepted for SUCCESS");
    let by_namespace = client
        .list_operations()
        .filters(filter(
            OperationFilterName::NamespaceId,
            FilterCondition::Eq,
            &[&ns],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ids(&by_namespace), 1);
    let by_service = client
        .list_operations()
        .filters(filter(
            OperationFilterName::ServiceId,
            FilterCondition::Eq,
            &[&svc],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ids(&by_service), 3);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let recent = client
        .list_operations()
        .filters(filter(
            OperationFilterName::UpdateDate,
            FilterCondition::Between,
            &[&format!("{}", now - 600.0), &format!("{}", now + 600.0)],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ids(&recent), 4);
    let long_ago = client
        .list_operations()
        .filters(filter(
            OperationFilterName::UpdateDate,
            FilterCondition::Between,
            &["0", "1000"],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ids(&long_ago), 0);
    let page = client
        .list_operations()
        .max_results(3)
        .send()
        .await
        .unwrap();
    assert_eq!(page.operations().len(), 3);
    let rest = client
        .list_operations()
        .max_results(3)
        .next_token(page.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.operations().len(), 1);
    assert!(rest.next_token().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_filters_and_unknown_operations_are_rejected() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let err = client
        .list_operations()
        .filters(filter(
            OperationFilterName::NamespaceId,
            FilterCondition::BeginsWith,
            &["ns-"],
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidInput"));
    let err = client
        .list_operations()
        .filters(filter(
            OperationFilterName::Type,
            FilterCondition::Eq,
            &["A", "B"],
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("InvalidInput"),
        "EQ takes exactly one value"
    );
    let err = client
        .get_operation()
        .operation_id("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("OperationNotFound"));
}

#[tokio::test(flavor = "multi_thread")]
async fn finished_operations_are_forgotten_after_the_retention_but_unfinished_ones_are_not() {
    let server = TestServer::start(&[
        "--operation-retention",
        "300ms",
        "--operation-delay",
        "1500ms",
    ])
    .await;
    let client = &server.client;
    let first = client
        .create_http_namespace()
        .name("kept")
        .send()
        .await
        .unwrap();
    let first = first.operation_id().unwrap().to_owned();
    // Unfinished for 3 s, ten times the retention: still there while it runs.
    for _ in 0..2 {
        let op = client
            .get_operation()
            .operation_id(&first)
            .send()
            .await
            .unwrap();
        assert!(!matches!(
            op.operation().unwrap().status().unwrap(),
            aws_sdk_servicediscovery::types::OperationStatus::Success
        ));
    }
    crate::fixtures::succeed(client, &first).await;
    crate::harness::eventually(std::time::Duration::from_secs(10), || async {
        let result = client.get_operation().operation_id(&first).send().await;
        result
            .err()
            .filter(|e| e.code() == Some("OperationNotFound"))
            .map(|_| ())
    })
    .await;
    // The namespace it created is, of course, still there.
    let namespaces = client.list_namespaces().send().await.unwrap();
    assert_eq!(namespaces.namespaces()[0].name(), Some("kept"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_delay_0_every_operation_is_finished_when_its_answer_arrives() {
    // No polling: at delay 0 an operation must be final when its answer arrives.
    use aws_sdk_servicediscovery::types::OperationStatus;
    let server = TestServer::start(&[]).await;
    let client = server.client.clone();
    let namespace = private_namespace(&client, "zero.local").await;
    let service = plain_service(&client, &namespace, "api").await;
    // 500 registrations from 8 concurrent clients, each asked about at once.
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let client = client.clone();
        let service = service.clone();
        tasks.spawn(async move {
            let mut not_finished = Vec::new();
            for n in (worker..500).step_by(8) {
                let op = client
                    .register_instance()
                    .service_id(&service)
                    .instance_id(format!("i-{n}"))
                    .attributes("AWS_INSTANCE_IPV4", "10.0.0.1")
                    .send()
                    .await
                    .unwrap();
                let status =
                    crate::fixtures::operation_status(&client, op.operation_id().unwrap()).await;
                if status != OperationStatus::Success {
                    not_finished.push((n, status));
                }
            }
            not_finished
        });
    }
    let mut not_finished = Vec::new();
    while let Some(result) = tasks.join_next().await {
        not_finished.extend(result.unwrap());
    }
    assert_eq!(
        not_finished,
        Vec::new(),
        "operations not SUCCESS right after their answer"
    );
    let instances = client
        .list_instances()
        .service_id(&service)
        .max_results(100)
        .send()
        .await
        .unwrap();
    assert_eq!(instances.instances().len(), 100);

    // A namespace update is visible, finished, right away; so is a deregistration.
    let update = client
        .update_private_dns_namespace()
        .id(&namespace)
        .namespace(
            aws_sdk_servicediscovery::types::PrivateDnsNamespaceChange::builder()
                .description("updated")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        crate::fixtures::operation_status(&client, update.operation_id().unwrap()).await,
        OperationStatus::Success
    );
    let got = client.get_namespace().id(&namespace).send().await.unwrap();
    assert_eq!(got.namespace().unwrap().description(), Some("updated"));
    let gone = client
        .deregister_instance()
        .service_id(&service)
        .instance_id("i-0")
        .send()
        .await
        .unwrap();
    assert_eq!(
        crate::fixtures::operation_status(&client, gone.operation_id().unwrap()).await,
        OperationStatus::Success
    );
    let missing = client
        .get_instance()
        .service_id(&service)
        .instance_id("i-0")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("InstanceNotFound"));
}

#[tokio::test(flavor = "multi_thread")]
async fn back_to_back_updates_of_one_service_never_meet_an_unfinished_one_at_delay_0() {
    use aws_sdk_servicediscovery::types::{DnsConfigChange, DnsRecord, RecordType, ServiceChange};
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let namespace = private_namespace(client, "updates.local").await;
    let service = plain_service(client, &namespace, "api").await;
    let mut duplicate = 0;
    for n in 0..200_i64 {
        let change = ServiceChange::builder()
            .description(format!("revision {n}"))
            .dns_config(
                DnsConfigChange::builder()
                    .dns_records(
                        DnsRecord::builder()
                            .r#type(RecordType::A)
                            .ttl(n + 1)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .build();
        match client
            .update_service()
            .id(&service)
            .service(change)
            .send()
            .await
        {
            Ok(_) => {}
            Err(error) if error.code() == Some("DuplicateRequest") => duplicate += 1,
            Err(error) => panic!("UpdateService {n}: {error:?}"),
        }
        let got = client.get_service().id(&service).send().await.unwrap();
        let got = got.service().unwrap();
        assert_eq!(got.description(), Some(format!("revision {n}").as_str()));
        let ttl = got.dns_config().unwrap().dns_records()[0].ttl();
        assert_eq!(ttl, n + 1, "GetService after update {n}");
    }
    assert_eq!(duplicate, 0, "DuplicateRequest answers");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_request_token_is_no_token() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let namespace = private_namespace(client, "tokens.local").await;
    let service = plain_service(client, &namespace, "api").await;
    let mut operations = Vec::new();
    for instance in ["i-1", "i-2"] {
        let op = client
            .register_instance()
            .service_id(&service)
            .instance_id(instance)
            .creator_request_id("")
            .attributes("AWS_INSTANCE_IPV4", "10.0.0.1")
            .send()
            .await
            .unwrap();
        operations.push(op.operation_id().unwrap().to_owned());
    }
    assert_ne!(
        operations[0], operations[1],
        "the second registration replayed the first"
    );
    let instances = client
        .list_instances()
        .service_id(&service)
        .send()
        .await
        .unwrap();
    assert_eq!(instances.instances().len(), 2);
    // A real token still replays: same token, same instance → the original operation.
    let mut replays = Vec::new();
    for _ in 0..2 {
        let op = client
            .register_instance()
            .service_id(&service)
            .instance_id("i-3")
            .creator_request_id("token-1")
            .attributes("AWS_INSTANCE_IPV4", "10.0.0.3")
            .send()
            .await
            .unwrap();
        replays.push(op.operation_id().unwrap().to_owned());
    }
    assert_eq!(replays[0], replays[1]);
}
