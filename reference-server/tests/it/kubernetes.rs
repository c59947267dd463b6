//! The Kubernetes runtime against a live API server. These tests need a cluster: they are
//! `#[ignore]`d and run with `cargo test -p reference-server --test it kubernetes -- --ignored`
//! when `KUBECONFIG` points at one (ci/test.sh does so when it is set, and says it skipped them
//! otherwise). No cluster can run on the machine this was written on (no k3s image or binary can
//! be obtained there), so they have not run yet; the rendered objects are snapshot-tested in
//! `runtime::kubernetes::render`.

use std::time::Duration;

use aws_sdk_ecs::types::{ContainerDefinition, PortMapping, ServiceRegistry};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::Api;
use kube::api::ListParams;

use crate::fixtures::{awsvpc, custom_health_service, private_namespace, register_fargate};
use crate::harness::{TestServer, eventually};

const DEADLINE: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Kubernetes cluster: set KUBECONFIG and run with --ignored"]
async fn ecs_tasks_run_as_pods_registered_with_their_pod_ips() {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "KUBECONFIG must point at a cluster"
    );
    let image = std::env::var("CLOUDMAP_K8S_TEST_IMAGE")
        .unwrap_or_else(|_| "cloudmap-base/debian:bookworm".to_owned());
    let server = TestServer::start(&[
        "--ecs-runtime",
        "kubernetes",
        "--k8s-dns-forward",
        "10.43.0.53:53",
    ])
    .await;
    let client = kube::Client::try_default().await.unwrap();
    let ecs = server.ecs();
    let ns = private_namespace(&server.client, "k8s.local").await;
    let service_id = custom_health_service(&server.client, &ns, "web").await;
    let cluster = format!("k{:06x}", rand::random::<u32>() & 0xff_ffff);
    ecs.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    register_fargate(
        &ecs,
        "web",
        ContainerDefinition::builder()
            .name("app")
            .image(&image)
            .command("sleep")
            .command("infinity")
            .port_mappings(PortMapping::builder().container_port(8080).build())
            .build(),
    )
    .await;
    ecs.create_service()
        .cluster(&cluster)
        .service_name("web")
        .task_definition("web")
        .desired_count(2)
        .network_configuration(awsvpc())
        .service_registries(
            ServiceRegistry::builder()
                .registry_arn(format!(
                    "arn:aws:servicediscovery:us-east-1:123456789012:service/{service_id}"
                ))
                .container_name("app")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let namespace = format!("{cluster}-us-east-1");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    eventually(DEADLINE, || async {
        let listed = server
            .client
            .list_instances()
            .service_id(&service_id)
            .send()
            .await
            .unwrap();
        let pod_ips: Vec<String> = pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .into_iter()
            .filter_map(|p| p.status?.pod_ip)
            .collect();
        let registered: Vec<String> = listed
            .instances()
            .iter()
            .filter_map(|i| i.attributes()?.get("AWS_INSTANCE_IPV4").cloned())
            .collect();
        (registered.len() == 2 && registered.iter().all(|ip| pod_ips.contains(ip))).then_some(())
    })
    .await;
    // CoreDNS forwards the namespace to our DNS.
    let coredns: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    eventually(DEADLINE, || async {
        let map = coredns.get("coredns-custom").await.ok()?;
        map.data?
            .get("cloudmap.server")?
            .contains("k8s.local:53 {")
            .then_some(())
    })
    .await;
    // Scale to 0: deregistered, pods deleted.
    ecs.update_service()
        .cluster(&cluster)
        .service("web")
        .desired_count(0)
        .send()
        .await
        .unwrap();
    eventually(DEADLINE, || async {
        let listed = server
            .client
            .list_instances()
            .service_id(&service_id)
            .send()
            .await
            .unwrap();
        let left = pods.list(&ListParams::default()).await.unwrap().items.len();
        (listed.instances().is_empty() && left == 0).then_some(())
    })
    .await;
    ecs.delete_service()
        .cluster(&cluster)
        .service("web")
        .send()
        .await
        .unwrap();
    eventually(DEADLINE, || async {
        let described = ecs
            .describe_services()
            .cluster(&cluster)
            .services("web")
            .send()
            .await
            .unwrap();
        (described.services()[0].status() == Some("INACTIVE")).then_some(())
    })
    .await;
    ecs.delete_cluster().cluster(&cluster).send().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client);
    eventually(DEADLINE, || async {
        let found = namespaces.get_opt(&namespace).await.unwrap();
        let gone =
            found.is_none_or(|n| n.status.and_then(|s| s.phase).as_deref() == Some("Terminating"));
        gone.then_some(())
    })
    .await;
    server.stop().await;
}
