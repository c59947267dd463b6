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
