//! ECS services with serviceRegistries on a real Docker engine, driven by the real ECS SDK (and
//! the aws CLI for the seed document's CreateService JSON): tasks register with the attributes
//! ECS sets, DNS follows them through kills, failing health checks, scaling, rollouts, deletion,
//! server crashes; and without a runtime, tasks stop saying why.
//!
//! The tests that run containers need a Docker engine and a local base image (`ci/docker.sh`
//! provides both; the image is `$CLOUDMAP_TEST_IMAGE`, default `cloudmap-base/debian:bookworm`):
//! they are `#[ignore]`d and run with `cargo test -p reference-server --test it ecs -- --ignored`
//! (ci/test.sh does), where a missing engine or image fails them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use aws_sdk_ecs::types::{
    ContainerDefinition, DesiredStatus, HealthCheck, LinuxParameters, NetworkMode, PortMapping,
    ServiceRegistry, Task,
};
use aws_sdk_servicediscovery::types::HealthStatus;
use hickory_proto::rr::RecordType;

use crate::dns::{a_records, ask};
use crate::fixtures::{awsvpc, custom_health_service, private_namespace, register_fargate};
use crate::harness::{ServerProcess, TestServer, eventually};

const DEADLINE: Duration = Duration::from_secs(90);

fn image() -> String {
    std::env::var("CLOUDMAP_TEST_IMAGE")
        .unwrap_or_else(|_| "cloudmap-base/debian:bookworm".to_owned())
}

/// The tests that run containers are `#[ignore]`d, so that `cargo test` reports them as not run
/// where there is no Docker engine; run with `--ignored` (as CI does), each fails at once, saying
/// why, when the engine or the test image is missing.
fn require_docker() {
    let found = Command::new("docker")
        .args(["image", "inspect", &image()])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "no Docker engine or no image {} (run ci/docker.sh)",
        image()
    );
}

fn docker(args: &[&str]) -> String {
    let output = Command::new("docker").args(args).output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Containers of ours for a task, in any state.
fn containers_of(task_id: &str) -> String {
    docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=io.cloudmap-conformance.task={task_id}"),
    ])
}

fn networks_of(cluster: &str) -> String {
    docker(&[
        "network",
        "ls",
        "-q",
        "--filter",
        &format!("label=io.cloudmap-conformance.cluster={cluster}"),
    ])
}

/// Removes the containers and networks of a test's cluster when the test ends, also when it
/// panics (a passing test's server has removed them already; an in-process server dropped by a
/// panic cannot).
struct Leftovers(String);

impl Drop for Leftovers {
    fn drop(&mut self) {
        let label = format!("label=io.cloudmap-conformance.cluster={}", self.0);
        let containers = docker(&["ps", "-aq", "--filter", &label]);
        for id in containers.lines() {
            docker(&["rm", "-f", id]);
        }
        for id in docker(&["network", "ls", "-q", "--filter", &label]).lines() {
            docker(&["network", "rm", id]);
        }
    }
}

/// A new cluster with a unique name, and the guard that removes its leftovers.
async fn new_cluster(ecs: &aws_sdk_ecs::Client) -> (String, Leftovers) {
    let cluster = unique("c");
    let leftovers = Leftovers(cluster.clone());
    ecs.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    (cluster, leftovers)
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}", rand::random::<u32>())
}

async fn docker_server() -> TestServer {
    TestServer::start(&[
        "--ecs-runtime",
        "docker",
        "--ecs-poll-interval",
        "200ms",
        "--ecs-stop-timeout",
        "2s",
        "--health-interval",
        "200ms",
        "--allow-reset",
    ])
    .await
}

/// A one-container awsvpc task definition: `app`, port 8080, an init process (so SIGTERM
/// stops it at once), and `health` as its CMD-SHELL health check if given: one failure makes the
/// task unhealthy, so a failing check is seen at its first run; the docs' 5 s timeout (not less)
/// keeps a passing check that a loaded machine runs slowly (`docker exec`) from failing.
async fn task_definition(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
    health: Option<&str>,
    marker: &str,
) -> String {
    let mut container = ContainerDefinition::builder()
        .name("app")
        .image(image())
        .command("bash")
        .command("-c")
        .command(format!(
            "touch /tmp/healthy; echo {marker}; exec sleep infinity"
        ))
        .essential(true)
        .port_mappings(PortMapping::builder().container_port(8080).build())
        .linux_parameters(
            LinuxParameters::builder()
                .init_process_enabled(true)
                .build(),
        );
    if let Some(check) = health {
        container = container.health_check(
            HealthCheck::builder()
                .command("CMD-SHELL")
                .command(check)
                .interval(5)
                .timeout(5)
                .retries(1)
                .build()
                .unwrap(),
        );
    }
    register_fargate(ecs, family, container.build()).await
}

async fn create_service(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    name: &str,
    definition: &str,
    desired: i32,
    registry_arn: &str,
) {
    ecs.create_service()
        .cluster(cluster)
        .service_name(name)
        .task_definition(definition)
        .desired_count(desired)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .network_configuration(awsvpc())
        .service_registries(
            ServiceRegistry::builder()
                .registry_arn(registry_arn)
                .container_name("app")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: Option<&str>,
    status: DesiredStatus,
) -> Vec<Task> {
    let arns = ecs
        .list_tasks()
        .cluster(cluster)
        .set_service_name(service.map(str::to_owned))
        .desired_status(status)
        .send()
        .await
        .unwrap()
        .task_arns()
        .to_vec();
    if arns.is_empty() {
        return Vec::new();
    }
    ecs.describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns))
        .send()
        .await
        .unwrap()
        .tasks()
        .to_vec()
}

fn task_id(task: &Task) -> String {
    task.task_arn()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

fn task_ip(task: &Task) -> Option<String> {
    task.attachments()
        .iter()
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("privateIPv4Address"))
        .and_then(|d| d.value().map(str::to_owned))
}

/// Cloud Map instances of a service: id → (attributes, health).
async fn instances(
    server: &TestServer,
    service_id: &str,
) -> BTreeMap<String, (BTreeMap<String, String>, Option<HealthStatus>)> {
    let listed = server
        .client
        .list_instances()
        .service_id(service_id)
        .send()
        .await
        .unwrap();
    let health = server
        .client
        .get_instances_health_status()
        .service_id(service_id)
        .send()
        .await
        .unwrap();
    listed
        .instances()
        .iter()
        .map(|i| {
            let id = i.id().unwrap().to_owned();
            let attributes = i
                .attributes()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect();
            let status = health.status().and_then(|s| s.get(&id)).cloned();
            (id, (attributes, status))
        })
        .collect()
}

async fn dns_ips(dns: SocketAddr, name: &str) -> BTreeSet<String> {
    a_records(&ask(dns, name, RecordType::A).await)
}

/// Namespace + custom-health Cloud Map service with A records (TTL 30); returns (id, ARN).
async fn registry(server: &TestServer, namespace: &str, name: &str) -> (String, String) {
    let ns = private_namespace(&server.client, namespace).await;
    let id = custom_health_service(&server.client, &ns, name).await;
    let arn = server
        .client
        .get_service()
        .id(&id)
        .send()
        .await
        .unwrap()
        .service()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    (id, arn)
}

/// What `web_service` made.
struct Web {
    service_id: String,
    cluster: String,
    /// Keep it bound for the test's length.
    leftovers: Leftovers,
}

/// A custom-health Cloud Map service `web` in a new private namespace, and an ECS service `web`
/// of `desired` tasks (revision 1 of family `web`) in a new cluster, registering into it.
async fn web_service(server: &TestServer, namespace: &str, desired: i32) -> Web {
    let ecs = server.ecs();
    let (service_id, registry_arn) = registry(server, namespace, "web").await;
    let (cluster, leftovers) = new_cluster(&ecs).await;
    let definition = task_definition(&ecs, "web", None, "v1").await;
    create_service(&ecs, &cluster, "web", &definition, desired, &registry_arn).await;
    Web {
        service_id,
        cluster,
        leftovers,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker and its base image (ci/docker.sh); CI runs it with --ignored"]
async fn the_seed_service_json_runs_two_registered_tasks_that_dns_and_containers_resolve() {
    require_docker();
    let server = docker_server().await;
    let ecs = server.ecs();
    let dns = server.dns.unwrap();
    let (service_id, registry_arn) = registry(&server, "seed.local", "backend-api").await;
    let (cluster, _leftovers) = new_cluster(&ecs).await;
    let family = "backend-api";
    let mut definition = ContainerDefinition::builder()
        .name("backend")
        .image(image())
        .command("bash")
        .command("-c")
        .command("exec sleep infinity")
        .port_mappings(PortMapping::builder().container_port(8080).build())
        .linux_parameters(
            LinuxParameters::builder()
                .init_process_enabled(true)
                .build(),
        );
    definition = definition.essential(true);
    register_fargate(&ecs, family, definition.build()).await;
    // The seed document's CreateService JSON (section 3), through the aws CLI, with only the
    // cluster and the registry ARN filled in.
    let seed = format!(
        r#"{{
  "cluster": "{cluster}",
  "serviceName": "backend-api-service",
  "taskDefinition": "backend-api:1",
  "desiredCount": 2,
  "launchType": "FARGATE",
  "serviceRegistries": [
    {{
      "registryArn": "{registry_arn}",
      "containerName": "backend",
      "containerPort": 8080
    }}
  ],
  "networkConfiguration": {{
    "awsvpcConfiguration": {{
      "subnets": ["subnet-12345"],
      "securityGroups": ["sg-12345"],
      "assignPublicIp": "ENABLED"
    }}
  }}
}}"#
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), seed).unwrap();
    let output = Command::new("aws")
        .args(["ecs", "create-service", "--cli-input-json"])
        .arg(format!("file://{}", file.path().display()))
        .args(["--region", "us-east-1", "--endpoint-url", &server.url()])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let running = eventually(DEADLINE, || async {
        let running = tasks(
            &ecs,
            &cluster,
            Some("backend-api-service"),
            DesiredStatus::Running,
        )
        .await;
        let registered = instances(&server, &service_id).await;
        let ready = running.len() == 2
            && running.iter().all(|t| t.last_status() == Some("RUNNING"))
            && running.iter().all(|t| {
                registered
                    .get(&task_id(t))
                    .is_some_and(|(_, h)| *h == Some(HealthStatus::Healthy))
            });
        ready.then_some(running)
    })
    .await;
    let registered = instances(&server, &service_id).await;
    assert_eq!(registered.len(), 2);
    let mut ips = BTreeSet::new();
    for task in &running {
        let ip = task_ip(task).expect("an awsvpc task has a private IPv4 address");
        // Cluster networks come from --ecs-network-pool (default 172.30.0.0/16), not from
        // Docker's pools that reach into the 192.168 home-network range.
        let pool: ipnet::Ipv4Net = "172.30.0.0/16".parse().unwrap();
        assert!(
            pool.contains(&ip.parse::<std::net::Ipv4Addr>().unwrap()),
            "{ip}"
        );
        ips.insert(ip.clone());
        let (attributes, _) = &registered[&task_id(task)];
        // Exactly the attributes ECS registers for an A-record, custom-health service (§11.2).
        let expected: BTreeMap<String, String> = [
            ("AWS_INSTANCE_IPV4", ip.as_str()),
            ("AWS_INSTANCE_PORT", "8080"),
            ("AVAILABILITY_ZONE", "us-east-1a"),
            ("REGION", "us-east-1"),
            ("ECS_SERVICE_NAME", "backend-api-service"),
            ("ECS_CLUSTER_NAME", cluster.as_str()),
            ("ECS_TASK_DEFINITION_FAMILY", family),
            ("AWS_INIT_HEALTH_STATUS", "UNHEALTHY"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(attributes, &expected);
        assert_eq!(task.health_status().map(|h| h.as_str()), Some("UNKNOWN"));
    }
    assert_eq!(dns_ips(dns, "backend-api.seed.local.").await, ips);
    // Containers resolve the namespace through the server's DNS on their network's gateway.
    let container = running[0].containers()[0].runtime_id().unwrap().to_owned();
    let resolved: BTreeSet<String> = docker(&[
        "exec",
        &container,
        "getent",
        "ahostsv4",
        "backend-api.seed.local",
    ])
    .lines()
    .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
    .collect();
    assert_eq!(resolved, ips);

    let ids: Vec<String> = running.iter().map(task_id).collect();
    server.stop().await;
    for id in &ids {
        assert_eq!(containers_of(id), "", "containers of task {id} left behind");
    }
    assert_eq!(networks_of(&cluster), "", "cluster network left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker and its base image (ci/docker.sh); CI runs it with --ignored"]
async fn a_killed_container_is_replaced_and_its_instance_deregistered() {
    require_docker();
    let server = docker_server().await;
    let ecs = server.ecs();
    let dns = server.dns.unwrap();
    let Web {
        service_id,
        cluster,
        leftovers: _leftovers,
    } = web_service(&server, "kill.local", 2).await;
    let running = eventually(DEADLINE, || async {
        let running = tasks(&ecs, &cluster, Some("web"), DesiredStatus::Running).await;
        let registered = instances(&server, &service_id).await;
        // RUNNING is recorded after registration, so these descriptions have their containers.
        (running.len() == 2
            && running.iter().all(|t| {
                t.last_status() == Some("RUNNING") && registered.contains_key(&task_id(t))
            }))
        .then_some(running)
    })
    .await;
    let victim = running[0].clone();
    let victim_id = task_id(&victim);
    docker(&["kill", victim.containers()[0].runtime_id().unwrap()]);

    eventually(DEADLINE, || async {
        let stopped = ecs
            .describe_tasks()
            .cluster(&cluster)
            .tasks(&victim_id)
            .send()
            .await
            .unwrap()
            .tasks()[0]
            .clone();
        let now = tasks(&ecs, &cluster, Some("web"), DesiredStatus::Running).await;
        let registered = instances(&server, &service_id).await;
        let now_ids: BTreeSet<String> = now.iter().map(task_id).collect();
        let registered_ids: BTreeSet<String> = registered.keys().cloned().collect();
        let ips: BTreeSet<String> = now.iter().filter_map(task_ip).collect();
        let done = stopped.last_status() == Some("STOPPED")
            && now.len() == 2
            && now.iter().all(|t| t.last_status() == Some("RUNNING"))
            && registered_ids == now_ids
            && !registered_ids.contains(&victim_id)
            && dns_ips(dns, "web.kill.local.").await == ips;
        done.then_some(stopped)
    })
    .await;
    let stopped = ecs
        .describe_tasks()
        .cluster(&cluster)
        .tasks(&victim_id)
        .send()
        .await
        .unwrap()
        .tasks()[0]
        .clone();
    assert_eq!(
        stopped.stop_code().map(|c| c.as_str()),
        Some("EssentialContainerExited")
    );
    assert_eq!(
        stopped.stopped_reason(),
        Some("Essential container in task exited")
    );
    assert_eq!(stopped.containers()[0].exit_code(), Some(137));
    assert_eq!(containers_of(&victim_id), "");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker and its base image (ci/docker.sh); CI runs it with --ignored"]
async fn a_failing_container_health_check_keeps_the_task_out_of_dns_and_replaces_it() {
    require_docker();
    let server = docker_server().await;
    let ecs = server.ecs();
    let dns = server.dns.unwrap();
    let (service_id, registry_arn) = registry(&server, "health.local", "api").await;
    let (cluster, _leftovers) = new_cluster(&ecs).await;
    // Two ECS services register into one Cloud Map service: one passes its health check, one
    // fails it. (With every instance unhealthy, Route 53 would answer with unhealthy ones.)
    let good = task_definition(&ecs, "good", Some("test -f /tmp/healthy"), "good").await;
    let bad = task_definition(&ecs, "bad", Some("exit 1"), "bad").await;
    create_service(&ecs, &cluster, "good", &good, 1, &registry_arn).await;
    let good_task = eventually(DEADLINE, || async {
        let running = tasks(&ecs, &cluster, Some("good"), DesiredStatus::Running).await;
        let task = running.first()?.clone();
        (task.health_status().map(|h| h.as_str()) == Some("HEALTHY")).then_some(task)
    })
    .await;
    let good_ip = task_ip(&good_task).unwrap();
    create_service(&ecs, &cluster, "bad", &bad, 1, &registry_arn).await;

    // While a bad task is registered it is UNHEALTHY, and DNS leaves it out.
    eventually(DEADLINE, || async {
        let registered = instances(&server, &service_id).await;
        let bad_tasks = tasks(&ecs, &cluster, Some("bad"), DesiredStatus::Running).await;
        let unhealthy_bad = bad_tasks.iter().any(|t| {
            registered
                .get(&task_id(t))
                .is_some_and(|(_, h)| *h == Some(HealthStatus::Unhealthy))
        });
        (unhealthy_bad
            && dns_ips(dns, "api.health.local.").await == BTreeSet::from([good_ip.clone()]))
        .then_some(())
    })
    .await;
    // Its failing check stops it (deregistered first) and the service starts another.
    let failed = eventually(DEADLINE, || async {
        tasks(&ecs, &cluster, Some("bad"), DesiredStatus::Stopped)
            .await
            .into_iter()
            .find(|t| t.last_status() == Some("STOPPED"))
    })
    .await;
    assert_eq!(
        failed.stopped_reason(),
        Some("Task failed container health checks")
    );
    assert_eq!(
        failed.health_status().map(|h| h.as_str()),
        Some("UNHEALTHY")
    );
    assert!(
        !instances(&server, &service_id)
            .await
            .contains_key(&task_id(&failed))
    );
    assert_eq!(
        dns_ips(dns, "api.health.local.").await,
        BTreeSet::from([good_ip.clone()])
    );
    let events = ecs
        .describe_services()
        .cluster(&cluster)
        .services("bad")
        .send()
        .await
        .unwrap()
        .services()[0]
        .events()
        .len();
    assert!(events >= 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker and its base image (ci/docker.sh); CI runs it with --ignored"]
async fn scaling_to_zero_and_deleting_the_service_and_cluster_leave_nothing_behind() {
    require_docker();
    let server = docker_server().await;
    let ecs = server.ecs();
    let dns = server.dns.unwrap();
    let Web {
        service_id,
        cluster,
        leftovers: _leftovers,
    } = web_service(&server, "scale.local", 2).await;
    let running = eventually(DEADLINE, || async {
        let running = tasks(&ecs, &cluster, Some("web"), DesiredStatus::Running).await;
        (running.len() == 2 && instances(&server, &service_id).await.len() == 2).then_some(running)
    })
    .await;
    let refused = ecs
        .delete_service()
        .cluster(&cluster)
        .service("web")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(refused.is_invalid_parameter_exception(), "{refused:?}");

    ecs.update_service()
        .cluster(&cluster)
        .service("web")
        .desired_count(0)
        .send()
        .await
        .unwrap();
    eventually(DEADLINE, || async {
        let stopped = tasks(&ecs, &cluster, Some("web"), DesiredStatus::Stopped).await;
        let gone = instances(&server, &service_id).await.is_empty()
            && tasks(&ecs, &cluster, Some("web"), DesiredStatus::Running)
                .await
                .is_empty()
            && stopped.len() == 2
            && stopped.iter().all(|t| t.last_status() == Some("STOPPED"))
            && dns_ips(dns, "web.scale.local.").await.is_empty();
        gone.then_some(())
    })
    .await;
    for task in &running {
        assert_eq!(containers_of(&task_id(task)), "");
    }

    let deleted = ecs
        .delete_service()
        .cluster(&cluster)
        .service("web")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.service().unwrap().status(), Some("DRAINING"));
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
    assert_eq!(networks_of(&cluster), "");
    // ECS never deletes the Cloud Map service (spec §11.3).
    server
        .client
        .get_service()
        .id(&service_id)
        .send()
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker and its base image (ci/docker.sh); CI runs it with --ignored"]
async fn a_new_task_definition_rolls_the_registrations_over() {
    require_docker();
    let server = docker_server().await;
    let ecs = server.ecs();
    let Web {
        service_id,
        cluster,
        leftovers: _leftovers,
    } = web_service(&server, "roll.local", 2).await;
    eventually(DEADLINE, || async {
        (instances(&server, &service_id).await.len() == 2).then_some(())
    })
    .await;
    let v2 = task_definition(&ecs, "web", None, "v2").await;
    assert!(v2.ends_with("web:2"), "{v2}");
    ecs.update_service()
        .cluster(&cluster)
        .service("web")
        .task_definition("web")
        .send()
        .await
        .unwrap();
    eventually(DEADLINE, || async {
        let running = tasks(&ecs, &cluster, Some("web"), DesiredStatus::Running).await;
        let registered: BTreeSet<String> =
            instances(&server, &service_id).await.into_keys().collect();
        let ids: BTreeSet<String> = running.iter().map(task_id).collect();
        let service = ecs
            .describe_services()
            .cluster(&cluster)
            .services("web")
            .send()
            .await
            .unwrap()
            .services()[0]
            .clone();
        let done = running.len() == 2
            && running
                .iter()
                .all(|t| t.task_definition_arn() == Some(v2.as_str()))
            && registered == ids
            && service.deployments().len() == 1
            && service.deployments()[0].rollout_state().map(|s| s.as_str()) == Some("COMPLETED");
        done.then_some(())
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker and its base image (ci/docker.sh); CI runs it with --ignored"]
async fn tasks_survive_a_crash_of_the_server_and_are_adopted() {
    require_docker();
    let data = tempfile::tempdir().unwrap();
    let flags = [
        "--ecs-runtime",
        "docker",
        "--ecs-poll-interval",
        "200ms",
        "--ecs-stop-timeout",
        "2s",
    ];
    let server = ServerProcess::spawn(data.path(), &flags);
    let (ecs, cloudmap) = (server.ecs(), server.client());
    let ns = private_namespace(&cloudmap, "crash.local").await;
    let service_id = custom_health_service(&cloudmap, &ns, "web").await;
    let arn = cloudmap
        .get_service()
        .id(&service_id)
        .send()
        .await
        .unwrap()
        .service()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let (cluster, _leftovers) = new_cluster(&ecs).await;
    let definition = task_definition(&ecs, "web", None, "v1").await;
    create_service(&ecs, &cluster, "web", &definition, 1, &arn).await;
    let task = eventually(DEADLINE, || async {
        let running = tasks(&ecs, &cluster, Some("web"), DesiredStatus::Running).await;
        let task = running
            .into_iter()
            .find(|t| t.last_status() == Some("RUNNING"))?;
        let listed = cloudmap
            .list_instances()
            .service_id(&service_id)
            .send()
            .await
            .unwrap();
        (listed.instances().len() == 1).then_some(task)
    })
    .await;
    server.kill_hard();

    let server = ServerProcess::spawn(data.path(), &flags);
    let (ecs, cloudmap) = (server.ecs(), server.client());
    // The same task runs on, still registered, with its one container.
    let adopted = tasks(&ecs, &cluster, Some("web"), DesiredStatus::Running).await;
    assert_eq!(
        adopted.iter().map(task_id).collect::<Vec<_>>(),
        vec![task_id(&task)]
    );
    let listed = cloudmap
        .list_instances()
        .service_id(&service_id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.instances()[0].id(), Some(task_id(&task).as_str()));
    assert_eq!(containers_of(&task_id(&task)).lines().count(), 1);
    server.terminate();
    assert_eq!(containers_of(&task_id(&task)), "");
    assert_eq!(networks_of(&cluster), "");
}

#[tokio::test]
async fn without_a_runtime_tasks_stop_saying_what_is_missing() {
    let server = TestServer::start(&[]).await;
    let ecs = server.ecs();
    let (service_id, registry_arn) = registry(&server, "none.local", "web").await;
    ecs.create_cluster()
        .cluster_name("default")
        .send()
        .await
        .unwrap();
    let definition = task_definition(&ecs, "web", None, "v1").await;
    create_service(&ecs, "default", "web", &definition, 1, &registry_arn).await;
    let stopped = eventually(DEADLINE, || async {
        tasks(&ecs, "default", Some("web"), DesiredStatus::Stopped)
            .await
            .into_iter()
            .find(|t| t.last_status() == Some("STOPPED"))
    })
    .await;
    assert_eq!(
        stopped.stopped_reason(),
        Some("ResourceInitializationError: no task runtime is configured (--ecs-runtime none)")
    );
    assert_eq!(
        stopped.stop_code().map(|c| c.as_str()),
        Some("TaskFailedToStart")
    );
    // Cloud Map and DNS carry on; nothing was registered.
    assert!(instances(&server, &service_id).await.is_empty());
    let answer = ask(server.dns.unwrap(), "web.none.local.", RecordType::A).await;
    assert_eq!(
        answer.metadata.response_code,
        hickory_proto::op::ResponseCode::NXDomain
    );
}

#[tokio::test]
async fn an_unreachable_docker_engine_is_named_in_the_stopped_reason() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn_with_env(
        data.path(),
        &["--ecs-runtime", "docker"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    let ecs = server.ecs();
    ecs.create_cluster().send().await.unwrap();
    let definition = task_definition(&ecs, "web", None, "v1").await;
    let run = ecs
        .run_task()
        .task_definition(&definition)
        .network_configuration(awsvpc())
        .send()
        .await
        .unwrap();
    let id = task_id(&run.tasks()[0]);
    let stopped = eventually(DEADLINE, || async {
        let task = ecs
            .describe_tasks()
            .tasks(&id)
            .send()
            .await
            .unwrap()
            .tasks()[0]
            .clone();
        (task.last_status() == Some("STOPPED")).then_some(task)
    })
    .await;
    let reason = stopped.stopped_reason().unwrap();
    assert!(
        reason.starts_with(
            "ResourceInitializationError: no Docker engine at unix:///nonexistent/docker.sock"
        ),
        "{reason}"
    );
}

#[tokio::test]
async fn ecs_errors_have_ecs_codes() {
    let server = TestServer::start(&[]).await;
    let ecs = server.ecs();
    let missing_cluster = ecs
        .describe_services()
        .cluster("nope")
        .services("x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        missing_cluster.is_cluster_not_found_exception(),
        "{missing_cluster:?}"
    );
    ecs.create_cluster().send().await.unwrap();
    let missing_service = ecs
        .update_service()
        .service("nope")
        .desired_count(1)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        missing_service.is_service_not_found_exception(),
        "{missing_service:?}"
    );
    let no_image = ecs
        .register_task_definition()
        .family("web")
        .container_definitions(ContainerDefinition::builder().name("app").build())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(no_image.is_client_exception(), "{no_image:?}");
    let definition = task_definition(&ecs, "web", None, "v1").await;
    // awsvpc without a network configuration.
    let no_network = ecs
        .create_service()
        .service_name("web")
        .task_definition(&definition)
        .desired_count(1)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        no_network.is_invalid_parameter_exception(),
        "{no_network:?}"
    );
    // More tasks than ECS allows per service, and a deployment that could never run.
    for (desired, minimum) in [(5001, 100), (1, 150)] {
        let rejected = ecs
            .create_service()
            .service_name("web")
            .task_definition(&definition)
            .desired_count(desired)
            .network_configuration(awsvpc())
            .deployment_configuration(
                aws_sdk_ecs::types::DeploymentConfiguration::builder()
                    .minimum_healthy_percent(minimum)
                    .maximum_percent(200)
                    .build(),
            )
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(rejected.is_invalid_parameter_exception(), "{rejected:?}");
    }
    // A registry ARN that names no Cloud Map service, and one whose container port is not mapped.
    let ns = private_namespace(&server.client, "errors.local").await;
    let cm = crate::fixtures::plain_service(&server.client, &ns, "web").await;
    let cm_arn = format!("arn:aws:servicediscovery:us-east-1:123456789012:service/{cm}");
    for registry in [
        ServiceRegistry::builder()
            .registry_arn(
                "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-aaaaaaaaaaaaaaaa",
            )
            .build(),
        ServiceRegistry::builder()
            .registry_arn(&cm_arn)
            .container_name("app")
            .container_port(9999)
            .build(),
        ServiceRegistry::builder()
            .registry_arn(&cm_arn)
            .container_name("app")
            .build(),
        // Not a port: a parameter error, not a body that fails to parse.
        ServiceRegistry::builder()
            .registry_arn(&cm_arn)
            .port(70000)
            .build(),
    ] {
        let rejected = ecs
            .create_service()
            .service_name("web")
            .task_definition(&definition)
            .desired_count(1)
            .network_configuration(awsvpc())
            .service_registries(registry)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(rejected.is_invalid_parameter_exception(), "{rejected:?}");
    }
    // bridge mode supports only SRV records; this service has A records.
    let bridge = ecs
        .register_task_definition()
        .family("bridged")
        .network_mode(NetworkMode::Bridge)
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(image())
                .port_mappings(PortMapping::builder().container_port(8080).build())
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_owned();
    let a_records_in_bridge = ecs
        .create_service()
        .service_name("bridged")
        .task_definition(&bridge)
        .desired_count(1)
        .service_registries(
            ServiceRegistry::builder()
                .registry_arn(&cm_arn)
                .container_name("app")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        a_records_in_bridge.to_string().contains("only SRV records"),
        "{a_records_in_bridge}"
    );
    // Unknown clusters in DescribeClusters are failures, not errors.
    let described = ecs
        .describe_clusters()
        .clusters("ghost")
        .send()
        .await
        .unwrap();
    assert_eq!(described.failures()[0].reason(), Some("MISSING"));
    // A raw request with a body that is not JSON.
    let response = reqwest::Client::new()
        .post(server.url())
        .header(
            "x-amz-target",
            "AmazonEC2ContainerServiceV20141113.ListClusters",
        )
        .header("content-type", "application/x-amz-json-1.1")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["__type"], "SerializationException");
}

#[tokio::test]
async fn partial_deployment_configurations_merge_and_scaling_survives_a_deleted_registry() {
    let server = TestServer::start(&[]).await;
    let ecs = server.ecs();
    let (service_id, registry_arn) = registry(&server, "merge.local", "web").await;
    ecs.create_cluster().send().await.unwrap();
    let definition = task_definition(&ecs, "web", None, "v1").await;
    let created = ecs
        .create_service()
        .service_name("web")
        .task_definition(&definition)
        .desired_count(0)
        .network_configuration(awsvpc())
        .enable_ecs_managed_tags(true)
        .deployment_configuration(
            aws_sdk_ecs::types::DeploymentConfiguration::builder()
                .minimum_healthy_percent(50)
                .build(),
        )
        .service_registries(
            ServiceRegistry::builder()
                .registry_arn(&registry_arn)
                .container_name("app")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // ECS's own spelling of the member (enableECSManagedTags) reaches the SDK.
    assert!(created.service().unwrap().enable_ecs_managed_tags());
    let configuration = created
        .service()
        .unwrap()
        .deployment_configuration()
        .unwrap();
    assert_eq!(
        (
            configuration.maximum_percent(),
            configuration.minimum_healthy_percent()
        ),
        (Some(200), Some(50))
    );
    let updated = ecs
        .update_service()
        .service("web")
        .deployment_configuration(
            aws_sdk_ecs::types::DeploymentConfiguration::builder()
                .maximum_percent(150)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let configuration = updated
        .service()
        .unwrap()
        .deployment_configuration()
        .unwrap();
    assert_eq!(
        (
            configuration.maximum_percent(),
            configuration.minimum_healthy_percent()
        ),
        (Some(150), Some(50))
    );
    // The Cloud Map service goes away (it has no instances): scaling and deleting still work.
    server
        .client
        .delete_service()
        .id(&service_id)
        .send()
        .await
        .unwrap();
    ecs.update_service()
        .service("web")
        .desired_count(0)
        .send()
        .await
        .unwrap();
    ecs.delete_service().service("web").send().await.unwrap();
    // A new task definition is checked again, and the registry is gone.
    let refused = ecs
        .create_service()
        .service_name("web2")
        .task_definition(&definition)
        .desired_count(0)
        .network_configuration(awsvpc())
        .service_registries(
            ServiceRegistry::builder()
                .registry_arn(&registry_arn)
                .container_name("app")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(refused.is_invalid_parameter_exception(), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker and its base image (ci/docker.sh); CI runs it with --ignored"]
async fn bridge_tasks_register_the_host_address_and_their_published_port_in_srv_records() {
    require_docker();
    let server = docker_server().await;
    let ecs = server.ecs();
    let dns = server.dns.unwrap();
    let ns = private_namespace(&server.client, "bridge.local").await;
    // bridge mode supports SRV records only (spec §11.1).
    let created = server
        .client
        .create_service()
        .name("web")
        .namespace_id(&ns)
        .dns_config(crate::fixtures::records(&[(
            aws_sdk_servicediscovery::types::RecordType::Srv,
            20,
        )]))
        .health_check_custom_config(
            aws_sdk_servicediscovery::types::HealthCheckCustomConfig::builder().build(),
        )
        .send()
        .await
        .unwrap();
    let service = created.service().unwrap();
    let (service_id, registry_arn) = (
        service.id().unwrap().to_owned(),
        service.arn().unwrap().to_owned(),
    );
    let (cluster, _leftovers) = new_cluster(&ecs).await;
    // hostPort 0: Docker picks a free port on the host's address on the cluster network.
    let definition = ecs
        .register_task_definition()
        .family("bridged")
        .network_mode(NetworkMode::Bridge)
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(image())
                .command("sleep")
                .command("infinity")
                .linux_parameters(
                    LinuxParameters::builder()
                        .init_process_enabled(true)
                        .build(),
                )
                .port_mappings(
                    PortMapping::builder()
                        .container_port(8080)
                        .host_port(0)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_owned();
    ecs.create_service()
        .cluster(&cluster)
        .service_name("web")
        .task_definition(&definition)
        .desired_count(1)
        .service_registries(
            ServiceRegistry::builder()
                .registry_arn(&registry_arn)
                .container_name("app")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let task = eventually(DEADLINE, || async {
        let running = tasks(&ecs, &cluster, Some("web"), DesiredStatus::Running).await;
        let task = running
            .into_iter()
            .find(|t| t.last_status() == Some("RUNNING"))?;
        instances(&server, &service_id)
            .await
            .contains_key(&task_id(&task))
            .then_some(task)
    })
    .await;
    let binding = task.containers()[0].network_bindings()[0].clone();
    let host_port = binding.host_port().unwrap();
    assert_eq!(binding.container_port(), Some(8080));
    assert_ne!(host_port, 0);
    let registered = instances(&server, &service_id).await;
    let (attributes, _) = &registered[&task_id(&task)];
    // The host's address on the cluster network (the bind address) and the published port.
    assert_eq!(
        attributes.get("AWS_INSTANCE_IPV4").map(String::as_str),
        binding.bind_ip()
    );
    assert_eq!(attributes["AWS_INSTANCE_PORT"], host_port.to_string());
    assert!(task.attachments().is_empty(), "bridge tasks have no ENI");
    let answer = ask(dns, "web.bridge.local.", RecordType::SRV).await;
    let hickory_proto::rr::RData::SRV(srv) = &answer.answers[0].data else {
        panic!("not SRV: {answer:?}")
    };
    assert_eq!(i32::from(srv.port), host_port);
    assert_eq!(
        srv.target.to_string(),
        format!("{}.web.bridge.local.", task_id(&task))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker and its base image (ci/docker.sh); CI runs it with --ignored"]
async fn a_reset_stops_and_deregisters_every_task_and_leaves_nothing_behind() {
    require_docker();
    let server = docker_server().await;
    let ecs = server.ecs();
    let dns = server.dns.unwrap();
    let Web {
        service_id,
        cluster,
        leftovers: _leftovers,
    } = web_service(&server, "reset.local", 2).await;
    let running = eventually(DEADLINE, || async {
        let running = tasks(&ecs, &cluster, Some("web"), DesiredStatus::Running).await;
        (running.len() == 2
            && instances(&server, &service_id).await.len() == 2
            && dns_ips(dns, "web.reset.local.").await.len() == 2)
            .then_some(running)
    })
    .await;

    let response = reqwest::Client::new()
        .post(format!("{}/_reset", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["ecsTasksStopped"], 2, "{body}");
    // The answer comes when it is all gone: containers, the cluster network, ECS and Cloud Map
    // state, DNS.
    for task in &running {
        assert_eq!(
            containers_of(&task_id(task)),
            "",
            "a container of a reset task is left"
        );
    }
    assert_eq!(networks_of(&cluster), "");
    assert!(
        ecs.list_clusters()
            .send()
            .await
            .unwrap()
            .cluster_arns()
            .is_empty()
    );
    assert!(
        server
            .client
            .list_namespaces()
            .send()
            .await
            .unwrap()
            .namespaces()
            .is_empty()
    );
    assert!(dns_ips(dns, "web.reset.local.").await.is_empty());

    // And the server runs ECS services as before.
    let Web {
        service_id,
        cluster,
        leftovers: _again,
    } = web_service(&server, "again.local", 1).await;
    eventually(DEADLINE, || async {
        let running = tasks(&ecs, &cluster, Some("web"), DesiredStatus::Running).await;
        (running.len() == 1 && instances(&server, &service_id).await.len() == 1).then_some(())
    })
    .await;
    server.stop().await;
}
