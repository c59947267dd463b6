//! Tags on namespaces and services: add, overwrite, remove, the 50-tag quota and unknown ARNs.

use aws_sdk_servicediscovery::error::ProvideErrorMetadata;
use aws_sdk_servicediscovery::types::Tag;

use crate::fixtures::{plain_service, private_namespace};
use crate::harness::TestServer;

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_are_added_overwritten_removed_and_capped() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "tags.local").await;
    let svc = plain_service(client, &ns, "svc").await;
    for arn in [
        format!("arn:aws:servicediscovery:us-east-1:123456789012:namespace/{ns}"),
        format!("arn:aws:servicediscovery:us-east-1:123456789012:service/{svc}"),
    ] {
        client
            .tag_resource()
            .resource_arn(&arn)
            .tags(tag("team", "a"))
            .tags(tag("env", ""))
            .send()
            .await
            .unwrap();
        client
            .tag_resource()
            .resource_arn(&arn)
            .tags(tag("team", "b"))
            .send()
            .await
            .unwrap();
        client
            .untag_resource()
            .resource_arn(&arn)
            .tag_keys("env")
            .tag_keys("absent")
            .send()
            .await
            .unwrap();
        let listed = client
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .unwrap();
        let tags: Vec<(&str, &str)> = listed.tags().iter().map(|t| (t.key(), t.value())).collect();
        assert_eq!(tags, [("team", "b")]);
        let mut request = client.tag_resource().resource_arn(&arn);
        for i in 0..50 {
            request = request.tags(tag(&format!("k{i}"), "v"));
        }
        let err = request.send().await.unwrap_err().into_service_error();
        assert!(err.is_too_many_tags_exception(), "{err:?}");
        let listed = client
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .unwrap();
        assert_eq!(
            listed.tags().len(),
            1,
            "a rejected TagResource changes nothing"
        );
    }
    let err = client
        .tag_resource()
        .resource_arn("arn:aws:servicediscovery:us-east-1:123456789012:service/srv-nothere")
        .tags(tag("a", "b"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    let err = client
        .list_tags_for_resource()
        .resource_arn("arn:aws:s3:::bucket")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    let err = client
        .tag_resource()
        .resource_arn(format!(
            "arn:aws:servicediscovery:us-east-1:123456789012:namespace/{ns}"
        ))
        .tags(tag("aws:reserved", "x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidInput"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_given_at_creation_are_listed() {
    let server = TestServer::start(&[]).await;
    let client = &server.client;
    let op = client
        .create_http_namespace()
        .name("tagged")
        .tags(tag("owner", "me"))
        .send()
        .await
        .unwrap();
    crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
    let list = client.list_namespaces().send().await.unwrap();
    let arn = list.namespaces()[0].arn().unwrap();
    let listed = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.tags()[0].key(), "owner");
    let mut request = client.create_http_namespace().name("too-many");
    for i in 0..51 {
        request = request.tags(tag(&format!("k{i}"), "v"));
    }
    let err = request.send().await.unwrap_err();
    assert_eq!(err.code(), Some("TooManyTagsException"));
}
