//! Namespaces: creation through async operations, ids, properties, clashes, idempotency,
//! updates, deletion and listing with filters and pagination.

use aws_sdk_servicediscovery::error::ProvideErrorMetadata;
use aws_sdk_servicediscovery::types::{
    FilterCondition, HttpNamespaceChange, NamespaceFilter, NamespaceFilterName, NamespaceType,
    OperationStatus, OperationTargetType, OperationType, PrivateDnsNamespaceChange,
    PrivateDnsNamespaceProperties, PrivateDnsPropertiesMutable, Soa, SoaChange,
};

use crate::fixtures::{http_namespace, plain_service, private_namespace, wait_operation};
use crate::harness::TestServer;

fn is_base32(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

#[tokio::test(flavor = "multi_thread")]
async fn create_private_namespace_reports_an_operation_then_the_namespace() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let op = client
        .create_private_dns_namespace()
        .name("app.local")
        .vpc("vpc-default")
        .send()
        .await
        .unwrap();
    let op_id = op.operation_id().unwrap();
    let (prefix, suffix) = op_id.split_once('-').unwrap();
    assert_eq!(prefix.len(), 32);
    assert!(is_base32(prefix));
    assert_eq!(
        wait_operation(client, op_id).await,
        OperationStatus::Success
    );

    let op = client
        .get_operation()
        .operation_id(op_id)
        .send()
        .await
        .unwrap();
    let op = op.operation().unwrap();
    assert_eq!(op.r#type(), Some(&OperationType::CreateNamespace));
    let created_millis = (op.create_date().unwrap().as_secs_f64() * 1000.0).round() as u64;
    assert_eq!(
        u64::from_str_radix(suffix, 36).unwrap(),
        created_millis,
        "suffix is base36 of CreateDate"
    );
    assert!(op.update_date().unwrap() >= op.create_date().unwrap());
    let ns_id = op.targets().unwrap()[&OperationTargetType::Namespace].clone();
    assert!(
        ns_id.starts_with("ns-") && ns_id.len() == 19 && is_base32(&ns_id[3..]),
        "{ns_id}"
    );

    let ns = client.get_namespace().id(&ns_id).send().await.unwrap();
    let ns = ns.namespace().unwrap();
    assert_eq!(ns.name(), Some("app.local"));
    assert_eq!(ns.r#type(), Some(&NamespaceType::DnsPrivate));
    assert_eq!(
        ns.arn(),
        Some(format!("arn:aws:servicediscovery:us-east-1:123456789012:namespace/{ns_id}").as_str())
    );
    let props = ns.properties().unwrap();
    assert_eq!(
        props.http_properties().unwrap().http_name(),
        Some("app.local")
    );
    let dns = props.dns_properties().unwrap();
    assert!(dns.hosted_zone_id().unwrap().starts_with('Z'));
    assert_eq!(dns.soa().unwrap().ttl(), 15, "default SOA TTL");
    assert_eq!(ns.service_count(), Some(0));
    assert!(
        ns.creator_request_id().is_some(),
        "the SDK fills the idempotency token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_namespace_is_invisible_until_its_operation_succeeds() {
    let server = TestServer::start(&["--operation-delay", "2s"]).await;
    let client = &server.client;
    let op = client
        .create_http_namespace()
        .name("slow")
        .send()
        .await
        .unwrap();
    let op_id = op.operation_id().unwrap();
    let first = client
        .get_operation()
        .operation_id(op_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        first.operation().unwrap().status(),
        Some(&OperationStatus::Submitted)
    );
    let ns_id =
        first.operation().unwrap().targets().unwrap()[&OperationTargetType::Namespace].clone();
    let err = client.get_namespace().id(&ns_id).send().await.unwrap_err();
    assert_eq!(err.code(), Some("NamespaceNotFound"));
    // SUBMITTED -> PENDING -> SUCCESS, each seen by polling.
    crate::harness::eventually(std::time::Duration::from_secs(5), || async {
        let op = client
            .get_operation()
            .operation_id(op_id)
            .send()
            .await
            .unwrap();
        (op.operation().unwrap().status() == Some(&OperationStatus::Pending)).then_some(())
    })
    .await;
    assert_eq!(
        wait_operation(client, op_id).await,
        OperationStatus::Success
    );
    client.get_namespace().id(&ns_id).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn http_namespace_properties_have_an_http_name_and_empty_dns_properties() {
    let server = TestServer::start(&[]).await;
    let id = http_namespace(&server.client, "api.example").await;
    let ns = server.client.get_namespace().id(&id).send().await.unwrap();
    let props = ns.namespace().unwrap().properties().unwrap();
    assert_eq!(
        props.http_properties().unwrap().http_name(),
        Some("api.example")
    );
    let dns = props.dns_properties().unwrap();
    assert!(dns.hosted_zone_id().is_none() && dns.soa().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_namespace_of_the_same_name_is_rejected_with_the_existing_ids() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let op = client
        .create_http_namespace()
        .name("dup")
        .creator_request_id("first")
        .send()
        .await
        .unwrap();
    crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
    let existing = http_namespace_id(client, "dup").await;
    let err = client
        .create_http_namespace()
        .name("dup")
        .creator_request_id("second")
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert!(err.is_namespace_already_exists(), "{err:?}");
    let raw = err.meta();
    assert_eq!(raw.code(), Some("NamespaceAlreadyExists"));
    let aws_sdk_servicediscovery::operation::create_http_namespace::CreateHttpNamespaceError::NamespaceAlreadyExists(e) = err else {
        unreachable!()
    };
    assert_eq!(e.namespace_id(), Some(existing.as_str()));
    assert_eq!(e.creator_request_id(), Some("first"));
}

/// The FAIL operation AWS gives a second private namespace of one name on one VPC: Route 53's
/// ConflictingDomainExists text (aws/copilot-cli#2377) under `CANNOT_CREATE_HOSTED_ZONE`
/// (hashicorp/terraform-provider-aws PR #7118), once the operation has finished.
async fn assert_conflicting_domain_failure(
    client: &aws_sdk_servicediscovery::Client,
    operation_id: &str,
    vpc: &str,
    hosted_zone_id: &str,
) {
    assert_eq!(
        wait_operation(client, operation_id).await,
        OperationStatus::Fail
    );
    let op = crate::fixtures::operation(client, operation_id).await;
    assert_eq!(op.r#type(), Some(&OperationType::CreateNamespace));
    assert_eq!(op.error_code(), Some("CANNOT_CREATE_HOSTED_ZONE"));
    let message = op.error_message().unwrap();
    let prefix = format!(
        "The VPC {vpc} in region us-east-1 has already been associated with the hosted zone \
         {hosted_zone_id} with the same domain name. (Service: AmazonRoute53; Status Code: 400; \
         Error Code: ConflictingDomainExists; Request ID: "
    );
    let request_id = message
        .strip_prefix(prefix.as_str())
        .and_then(|rest| rest.strip_suffix("; Proxy: null)"))
        .unwrap_or_else(|| panic!("unexpected message: {message}"));
    let groups: Vec<usize> = request_id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "a UUID: {request_id}");
    assert!(
        request_id
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_hexdigit())
    );
    assert!(
        op.targets().is_none_or(|targets| targets.is_empty()),
        "no namespace to name: {:?}",
        op.targets()
    );
}

async fn hosted_zone_of(client: &aws_sdk_servicediscovery::Client, namespace_id: &str) -> String {
    let ns = client
        .get_namespace()
        .id(namespace_id)
        .send()
        .await
        .unwrap();
    ns.namespace()
        .unwrap()
        .properties()
        .unwrap()
        .dns_properties()
        .unwrap()
        .hosted_zone_id()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_private_namespace_of_one_name_on_one_vpc_is_accepted_and_its_operation_fails() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let first = client
        .create_private_dns_namespace()
        .name("twice.local")
        .vpc("vpc-1")
        .creator_request_id("first")
        .send()
        .await
        .unwrap();
    let first = first.operation_id().unwrap().to_owned();
    let existing = crate::fixtures::namespace_of(client, &first).await;
    let zone = hosted_zone_of(client, &existing).await;

    // The same VPC, another token: accepted, and the operation fails as AWS's did.
    let second = client
        .create_private_dns_namespace()
        .name("twice.local")
        .vpc("vpc-1")
        .creator_request_id("second")
        .send()
        .await
        .unwrap();
    let second = second.operation_id().unwrap().to_owned();
    assert_ne!(second, first);
    assert_conflicting_domain_failure(client, &second, "vpc-1", &zone).await;
    // The name is matched as DNS names are, so a different case and a trailing dot fail too.
    let third = client
        .create_private_dns_namespace()
        .name("TWICE.local.")
        .vpc("vpc-1")
        .send()
        .await
        .unwrap();
    assert_conflicting_domain_failure(client, third.operation_id().unwrap(), "vpc-1", &zone).await;
    // Replaying either token returns its own operation, unchanged.
    for (token, operation) in [("first", &first), ("second", &second)] {
        let again = client
            .create_private_dns_namespace()
            .name("twice.local")
            .vpc("vpc-1")
            .creator_request_id(token)
            .send()
            .await
            .unwrap();
        assert_eq!(again.operation_id(), Some(operation.as_str()));
    }
    let list = client.list_namespaces().send().await.unwrap();
    let ids: Vec<_> = list.namespaces().iter().filter_map(|ns| ns.id()).collect();
    assert_eq!(ids, [existing.as_str()], "no second namespace");

    // Another VPC keeps the synchronous clash: no observation, and one DNS view.
    let err = client
        .create_private_dns_namespace()
        .name("twice.local")
        .vpc("vpc-2")
        .creator_request_id("other-vpc")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.meta().code(), Some("NamespaceAlreadyExists"));
    let aws_sdk_servicediscovery::operation::create_private_dns_namespace::CreatePrivateDnsNamespaceError::NamespaceAlreadyExists(e) = err else {
        unreachable!()
    };
    assert_eq!(e.namespace_id(), Some(existing.as_str()));
    assert_eq!(e.creator_request_id(), Some("first"));
    let list = client.list_namespaces().send().await.unwrap();
    assert_eq!(list.namespaces().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_failing_create_runs_like_other_operations_and_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    // Long enough that the first GetOperation sees SUBMITTED on a loaded machine, short enough
    // for wait_operation's 10 s window after the restart.
    let delay = ["--strict", "--operation-delay", "2s"];
    let server = crate::harness::ServerProcess::spawn(data.path(), &delay);
    let client = server.client();
    let existing = private_namespace(&client, "durable.local").await;
    let zone = hosted_zone_of(&client, &existing).await;
    let op = client
        .create_private_dns_namespace()
        .name("durable.local")
        .vpc("vpc-default")
        .send()
        .await
        .unwrap();
    let op = op.operation_id().unwrap().to_owned();
    assert_eq!(
        crate::fixtures::operation_status(&client, &op).await,
        OperationStatus::Submitted
    );
    // Killed before it finished: the restarted server resumes it to FAIL.
    server.kill_hard();
    let server = crate::harness::ServerProcess::spawn(data.path(), &delay);
    let client = server.client();
    assert_conflicting_domain_failure(&client, &op, "vpc-default", &zone).await;
    // And a finished one is still there after another restart.
    server.terminate();
    let server = crate::harness::ServerProcess::spawn(data.path(), &delay);
    let client = server.client();
    assert_conflicting_domain_failure(&client, &op, "vpc-default", &zone).await;
    let list = client.list_namespaces().send().await.unwrap();
    assert_eq!(list.namespaces().len(), 1);
}

async fn http_namespace_id(client: &aws_sdk_servicediscovery::Client, name: &str) -> String {
    let list = client.list_namespaces().send().await.unwrap();
    list.namespaces()
        .iter()
        .find(|ns| ns.name() == Some(name))
        .unwrap()
        .id()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn replaying_a_creator_request_id_returns_the_original_operation() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let first = client
        .create_http_namespace()
        .name("idem")
        .creator_request_id("token-1")
        .send()
        .await
        .unwrap();
    let again = client
        .create_http_namespace()
        .name("idem")
        .creator_request_id("token-1")
        .send()
        .await
        .unwrap();
    assert_eq!(first.operation_id(), again.operation_id());
    let other = client
        .create_http_namespace()
        .name("other")
        .creator_request_id("token-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(other.code(), Some("DuplicateRequest"));
    // The first operation has finished (no delay): AWS's wording for that case, from a
    // CloudFormation message quoted in a public test fixture.
    assert_eq!(
        other.message(),
        Some(
            format!(
                "Another operation of type CreateHttpNamespace and id {} has completed",
                first.operation_id().unwrap()
            )
            .as_str()
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_replayed_while_its_create_is_in_progress_names_the_create() {
    let server = TestServer::start(&["--operation-delay", "2s"]).await;
    let client = &server.client;
    let first = client
        .create_private_dns_namespace()
        .name("pending.local")
        .vpc("vpc-1")
        .creator_request_id("token-p")
        .send()
        .await
        .unwrap();
    // The same token for another namespace, of another type, while the first create runs: the
    // message names the API operation that started it (a Terraform log quotes "Another operation
    // of type CreatePrivateDnsNamespace and id … is in progress").
    let err = client
        .create_http_namespace()
        .name("pending-http")
        .creator_request_id("token-p")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("DuplicateRequest"));
    let first_id = first.operation_id().unwrap();
    assert_eq!(
        err.message(),
        Some(
            format!(
                "Another operation of type CreatePrivateDnsNamespace and id {first_id} is in progress"
            )
            .as_str()
        )
    );
    let aws_sdk_servicediscovery::operation::create_http_namespace::CreateHttpNamespaceError::DuplicateRequest(dup) =
        err.into_service_error()
    else {
        panic!("expected DuplicateRequest")
    };
    assert_eq!(dup.duplicate_operation_id(), Some(first_id));
    assert_eq!(
        wait_operation(client, first_id).await,
        OperationStatus::Success
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_and_a_dns_namespace_may_share_a_name_with_distinct_http_names() {
    let server = TestServer::start(&[]).await;
    let dns = private_namespace(&server.client, "shared.local").await;
    let http = http_namespace(&server.client, "shared.local").await;
    let http_name = |id: String| {
        let client = server.client.clone();
        async move {
            let ns = client.get_namespace().id(id).send().await.unwrap();
            ns.namespace()
                .unwrap()
                .properties()
                .unwrap()
                .http_properties()
                .unwrap()
                .http_name()
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(http_name(dns).await, "shared.local");
    let second = http_name(http).await;
    assert!(
        second.starts_with("shared.local-") && second.len() == "shared.local-".len() + 8,
        "{second}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn update_namespaces_change_description_and_soa_ttl() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let dns = private_namespace(client, "upd.local").await;
    let op = client
        .update_private_dns_namespace()
        .id(&dns)
        .namespace(
            PrivateDnsNamespaceChange::builder()
                .description("changed")
                .properties(crate::fixtures::private_soa_change(5))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let op_id = op.operation_id().unwrap();
    assert_eq!(
        wait_operation(client, op_id).await,
        OperationStatus::Success
    );
    let op = client
        .get_operation()
        .operation_id(op_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        op.operation().unwrap().r#type(),
        Some(&OperationType::UpdateNamespace)
    );
    let ns = client.get_namespace().id(&dns).send().await.unwrap();
    let ns = ns.namespace().unwrap();
    assert_eq!(ns.description(), Some("changed"));
    assert_eq!(
        ns.properties()
            .unwrap()
            .dns_properties()
            .unwrap()
            .soa()
            .unwrap()
            .ttl(),
        5
    );

    let http = http_namespace(client, "upd-http").await;
    let op = client
        .update_http_namespace()
        .id(&http)
        .namespace(
            HttpNamespaceChange::builder()
                .description("new words")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        wait_operation(client, op.operation_id().unwrap()).await,
        OperationStatus::Success
    );
    let ns = client.get_namespace().id(&http).send().await.unwrap();
    assert_eq!(ns.namespace().unwrap().description(), Some("new words"));
}

#[tokio::test(flavor = "multi_thread")]
async fn updating_a_namespace_through_the_wrong_type_is_invalid() {
    let server = TestServer::start(&[]).await;
    let http = http_namespace(&server.client, "typed").await;
    let err = server
        .client
        .update_private_dns_namespace()
        .id(&http)
        .namespace(
            PrivateDnsNamespaceChange::builder()
                .description("x")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidInput"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_namespace_with_services_cannot_be_deleted() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "busy.local").await;
    let srv = plain_service(client, &ns, "web").await;
    let err = client.delete_namespace().id(&ns).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceInUse"));
    assert_eq!(
        err.message(),
        Some(
            "Namespace has associated services; delete the services before deleting the namespace"
        ),
        "AWS's text (anomalyco/sst#5931)"
    );
    client.delete_service().id(&srv).send().await.unwrap();
    let op = client.delete_namespace().id(&ns).send().await.unwrap();
    assert_eq!(
        wait_operation(client, op.operation_id().unwrap()).await,
        OperationStatus::Success
    );
    let err = client.get_namespace().id(&ns).send().await.unwrap_err();
    assert_eq!(err.code(), Some("NamespaceNotFound"));
    // AWS's text for an unknown id has not been observed; ours names the id.
    assert_eq!(
        err.message(),
        Some(format!("Namespace not found: {ns}").as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn namespace_ids_and_arns_are_both_accepted() {
    let server = TestServer::start(&[]).await;
    let ns = private_namespace(&server.client, "arn.local").await;
    let arn = format!("arn:aws:servicediscovery:us-east-1:123456789012:namespace/{ns}");
    let got = server.client.get_namespace().id(&arn).send().await.unwrap();
    assert_eq!(got.namespace().unwrap().id(), Some(ns.as_str()));
    let elsewhere = format!("arn:aws:servicediscovery:eu-west-1:123456789012:namespace/{ns}");
    let err = server
        .client
        .get_namespace()
        .id(&elsewhere)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NamespaceNotFound"));
}

#[tokio::test(flavor = "multi_thread")]
async fn list_namespaces_filters_and_paginates() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    for i in 0..5 {
        http_namespace(client, &format!("http-{i}")).await;
    }
    for i in 0..3 {
        private_namespace(client, &format!("dns-{i}.local")).await;
    }
    let dns_only = client
        .list_namespaces()
        .filters(
            NamespaceFilter::builder()
                .name(NamespaceFilterName::Type)
                .values("DNS_PRIVATE")
                .condition(FilterCondition::Eq)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(dns_only.namespaces().len(), 3);
    let prefixed = client
        .list_namespaces()
        .filters(
            NamespaceFilter::builder()
                .name(NamespaceFilterName::Name)
                .values("http-")
                .condition(FilterCondition::BeginsWith)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(prefixed.namespaces().len(), 5);
    // Pages of 3 visit all 8, in creation order, without repeats.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_namespaces()
            .max_results(3)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        assert!(page.namespaces().len() <= 3);
        seen.extend(
            page.namespaces()
                .iter()
                .map(|ns| ns.name().unwrap().to_owned()),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let expected: Vec<String> = (0..5)
        .map(|i| format!("http-{i}"))
        .chain((0..3).map(|i| format!("dns-{i}.local")))
        .collect();
    assert_eq!(seen, expected, "every namespace once, in creation order");
    // Summaries carry a CreateDate (and, in the model, no CreatorRequestId).
    let list = client.list_namespaces().send().await.unwrap();
    assert!(
        list.namespaces()
            .iter()
            .all(|ns| ns.create_date().is_some())
    );
    let err = client
        .list_namespaces()
        .next_token("zz-not-a-token")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidInput"));
}

#[tokio::test(flavor = "multi_thread")]
async fn soa_ttl_given_at_creation_is_kept() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let op = client
        .create_private_dns_namespace()
        .name("soa.local")
        .vpc("vpc-1")
        .properties(
            PrivateDnsNamespaceProperties::builder()
                .dns_properties(
                    PrivateDnsPropertiesMutable::builder()
                        .soa(Soa::builder().ttl(42).build().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
    let list = client.list_namespaces().send().await.unwrap();
    let ns = &list.namespaces()[0];
    assert_eq!(
        ns.properties()
            .unwrap()
            .dns_properties()
            .unwrap()
            .soa()
            .unwrap()
            .ttl(),
        42
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn public_namespaces_are_created_and_updated() {
    use aws_sdk_servicediscovery::types::{
        PublicDnsNamespaceChange, PublicDnsNamespacePropertiesChange,
        PublicDnsPropertiesMutableChange,
    };
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let err = client
        .create_public_dns_namespace()
        .name("not_a_host name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidInput"));
    let op = client
        .create_public_dns_namespace()
        .name("example.com")
        .send()
        .await
        .unwrap();
    let op_id = op.operation_id().unwrap();
    assert_eq!(
        wait_operation(client, op_id).await,
        OperationStatus::Success
    );
    let op = client
        .get_operation()
        .operation_id(op_id)
        .send()
        .await
        .unwrap();
    let id = op.operation().unwrap().targets().unwrap()[&OperationTargetType::Namespace].clone();
    let ns = client.get_namespace().id(&id).send().await.unwrap();
    assert_eq!(
        ns.namespace().unwrap().r#type(),
        Some(&NamespaceType::DnsPublic)
    );
    // A private namespace of the same name would be a second zone for our one DNS server.
    let err = client
        .create_private_dns_namespace()
        .name("example.com")
        .vpc("v")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NamespaceAlreadyExists"));
    let op = client
        .update_public_dns_namespace()
        .id(&id)
        .namespace(
            PublicDnsNamespaceChange::builder()
                .properties(
                    PublicDnsNamespacePropertiesChange::builder()
                        .dns_properties(
                            PublicDnsPropertiesMutableChange::builder()
                                .soa(SoaChange::builder().ttl(120).build().unwrap())
                                .build(),
                        )
                        .build(),
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
    let ns = client.get_namespace().id(&id).send().await.unwrap();
    assert_eq!(
        ns.namespace()
            .unwrap()
            .properties()
            .unwrap()
            .dns_properties()
            .unwrap()
            .soa()
            .unwrap()
            .ttl(),
        120
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_give_resource_limit_exceeded() {
    let server = TestServer::start(&[
        "--quota-namespaces",
        "2",
        "--quota-instances-per-service",
        "1",
    ])
    .await;
    let client = &server.client;
    let ns = private_namespace(client, "q1.local").await;
    http_namespace(client, "q2").await;
    let err = client
        .create_http_namespace()
        .name("q3")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceLimitExceeded"));
    let svc = plain_service(client, &ns, "svc").await;
    crate::fixtures::register(client, &svc, "i-1", "10.0.0.1", &[]).await;
    // Re-registering an existing instance is not a new one.
    crate::fixtures::register(client, &svc, "i-1", "10.0.0.2", &[]).await;
    let err = client
        .register_instance()
        .service_id(&svc)
        .instance_id("i-2")
        .attributes("AWS_INSTANCE_IPV4", "10.0.0.3")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceLimitExceeded"));
}

#[tokio::test(flavor = "multi_thread")]
async fn namespace_operations_in_progress_are_duplicate_requests() {
    let server = TestServer::start(&["--operation-delay", "2s"]).await;
    let client = &server.client;
    let op = client
        .create_http_namespace()
        .name("slowdel")
        .send()
        .await
        .unwrap();
    crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
    let id = client.list_namespaces().send().await.unwrap().namespaces()[0]
        .id()
        .unwrap()
        .to_owned();
    let delete = client.delete_namespace().id(&id).send().await.unwrap();
    let err = client.delete_namespace().id(&id).send().await.unwrap_err();
    assert_eq!(err.code(), Some("DuplicateRequest"));
    // AWS's text, as getmoto/moto's test_delete_namespace records it.
    assert_eq!(
        err.message(),
        Some(
            format!(
                "Another operation of type DeleteNamespace and id {} is in progress",
                delete.operation_id().unwrap()
            )
            .as_str()
        )
    );
    let err = client
        .update_http_namespace()
        .id(&id)
        .namespace(
            HttpNamespaceChange::builder()
                .description("x")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("DuplicateRequest"));
    // A namespace being deleted takes no new services.
    let err = client
        .create_service()
        .name("late")
        .namespace_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NamespaceNotFound"));
    assert_eq!(
        wait_operation(client, delete.operation_id().unwrap()).await,
        OperationStatus::Success
    );
}
