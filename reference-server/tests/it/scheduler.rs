//! The ECS scheduler and task drivers over the `TaskRuntime` trait, with a scripted runtime (no
//! containers): rollouts stay within maximumPercent, failing launches back off, scale-down and
//! unhealthy tasks are handled — and every task is deregistered from Cloud Map before the runtime
//! is asked to stop it (the runtime checks Cloud Map at that moment).

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{
    ContainerDefinition, DeploymentConfiguration, DesiredStatus, HealthCheck, PortMapping,
    ServiceRegistry,
};
use clap::Parser;
use reference_server::config::Config;
use reference_server::runtime::{
    BoxFuture, ClusterNetwork, ClusterRef, ContainerHealth, ContainerState, ContainerStatus,
    RuntimeError, StartedTask, TaskRuntime, TaskSpec,
};

use crate::fixtures::{awsvpc, custom_health_service, private_namespace, register_fargate};
use crate::harness::{TestServer, client_for, eventually};

#[derive(Debug, Default)]
struct Scripted {
    next_ip: u8,
    /// task id → (container names, health of every container)
    live: BTreeMap<String, (Vec<String>, ContainerHealth)>,
    peak_live: usize,
    starts: Vec<Instant>,
    fail_starts: bool,
    /// Health new tasks report (None: no health checks).
    health: Option<ContainerHealth>,
    /// (task id, whether Cloud Map still had it when the runtime was told to stop it)
    stops: Vec<(String, bool)>,
}

#[derive(Debug, Default)]
struct ScriptedRuntime {
    state: Mutex<Scripted>,
    /// The Cloud Map service the tasks register with, and the server's API address.
    registry: OnceLock<(SocketAddr, String)>,
}

impl ScriptedRuntime {
    fn with<T>(&self, f: impl FnOnce(&mut Scripted) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

impl TaskRuntime for ScriptedRuntime {
    fn check(&self) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async { Ok(()) })
    }

    fn prepare_cluster<'a>(
        &'a self,
        _: &'a ClusterRef,
    ) -> BoxFuture<'a, Result<ClusterNetwork, RuntimeError>> {
        Box::pin(async { Ok(ClusterNetwork { dns: None }) })
    }

    fn remove_cluster<'a>(&'a self, _: &'a ClusterRef) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async { Ok(()) })
    }

    fn start_task<'a>(
        &'a self,
        spec: &'a TaskSpec,
    ) -> BoxFuture<'a, Result<StartedTask, RuntimeError>> {
        Box::pin(async move {
            self.with(|s| {
                s.starts.push(Instant::now());
                if s.fail_starts {
                    return Err(RuntimeError(
                        "CannotPullContainerError: scripted failure".to_owned(),
                    ));
                }
                s.next_ip += 1;
                let names: Vec<String> = spec.containers.iter().map(|c| c.name.clone()).collect();
                let health = s.health.unwrap_or(ContainerHealth::None);
                s.live.insert(spec.task_id.clone(), (names.clone(), health));
                s.peak_live = s.peak_live.max(s.live.len());
                Ok(StartedTask {
                    handle: spec.task_id.clone(),
                    ipv4: Some(Ipv4Addr::new(10, 9, 0, s.next_ip)),
                    bindings: Vec::new(),
                    runtime_ids: names
                        .iter()
                        .map(|n| (n.clone(), format!("{}-{n}", spec.task_id)))
                        .collect(),
                })
            })
        })
    }

    fn inspect_task<'a>(
        &'a self,
        handle: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContainerStatus>, RuntimeError>> {
        Box::pin(async move {
            Ok(self.with(|s| match s.live.get(handle) {
                Some((names, health)) => names
                    .iter()
                    .map(|name| ContainerStatus {
                        name: name.clone(),
                        state: ContainerState::Running,
                        health: *health,
                    })
                    .collect(),
                None => Vec::new(),
            }))
        })
    }

    fn stop_task<'a>(
        &'a self,
        handle: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContainerStatus>, RuntimeError>> {
        Box::pin(async move {
            let (address, service) = self.registry.get().cloned().unwrap();
            let listed = client_for(address, "us-east-1")
                .list_instances()
                .service_id(service)
                .send()
                .await
                .unwrap();
            let registered = listed.instances().iter().any(|i| i.id() == Some(handle));
            Ok(self.with(|s| {
                s.stops.push((handle.to_owned(), registered));
                s.live
                    .remove(handle)
                    .map(|(names, _)| {
                        names
                            .into_iter()
                            .map(|name| ContainerStatus {
                                name,
                                state: ContainerState::Exited {
                                    code: 0,
                                    reason: None,
                                },
                                health: ContainerHealth::None,
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }))
        })
    }

    fn sweep<'a>(&'a self, _: &'a HashSet<String>) -> BoxFuture<'a, Result<usize, RuntimeError>> {
        Box::pin(async { Ok(0) })
    }
}

const DEADLINE: Duration = Duration::from_secs(30);

struct Setup {
    server: TestServer,
    runtime: Arc<ScriptedRuntime>,
    ecs: aws_sdk_ecs::Client,
    service_id: String,
    registry_arn: String,
}

async fn setup() -> Setup {
    let runtime = Arc::new(ScriptedRuntime::default());
    let config = Config::parse_from([
        "reference-server",
        "--ephemeral",
        "--log",
        "warn",
        "--ecs-poll-interval",
        "50ms",
    ]);
    let server =
        TestServer::with_runtime(config, Some(runtime.clone() as Arc<dyn TaskRuntime>)).await;
    let ns = private_namespace(&server.client, "sched.local").await;
    let service_id = custom_health_service(&server.client, &ns, "web").await;
    let registry_arn =
        format!("arn:aws:servicediscovery:us-east-1:123456789012:service/{service_id}");
    runtime
        .registry
        .set((server.address, service_id.clone()))
        .unwrap();
    let ecs = server.ecs();
    ecs.create_cluster().send().await.unwrap();
    Setup {
        server,
        runtime,
        ecs,
        service_id,
        registry_arn,
    }
}

async fn definition(ecs: &aws_sdk_ecs::Client, marker: &str, health: bool) -> String {
    let mut container = ContainerDefinition::builder()
        .name("app")
        .image(format!("scripted/{marker}"))
        .port_mappings(PortMapping::builder().container_port(8080).build());
    if health {
        container = container.health_check(
            HealthCheck::builder()
                .command("CMD-SHELL")
                .command("true")
                .interval(5)
                .build()
                .unwrap(),
        );
    }
    register_fargate(ecs, "web", container.build()).await
}

async fn create(setup: &Setup, definition: &str, desired: i32, max_percent: i32, min_percent: i32) {
    setup
        .ecs
        .create_service()
        .service_name("web")
        .task_definition(definition)
        .desired_count(desired)
        .network_configuration(awsvpc())
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .maximum_percent(max_percent)
                .minimum_healthy_percent(min_percent)
                .build(),
        )
        .service_registries(
            ServiceRegistry::builder()
                .registry_arn(&setup.registry_arn)
                .container_name("app")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn registered(setup: &Setup) -> Vec<String> {
    setup
        .server
        .client
        .list_instances()
        .service_id(&setup.service_id)
        .send()
        .await
        .unwrap()
        .instances()
        .iter()
        .filter_map(|i| i.id().map(str::to_owned))
        .collect()
}

async fn running(setup: &Setup) -> Vec<aws_sdk_ecs::types::Task> {
    let arns = setup
        .ecs
        .list_tasks()
        .service_name("web")
        .desired_status(DesiredStatus::Running)
        .send()
        .await
        .unwrap()
        .task_arns()
        .to_vec();
    if arns.is_empty() {
        return Vec::new();
    }
    setup
        .ecs
        .describe_tasks()
        .set_tasks(Some(arns))
        .send()
        .await
        .unwrap()
        .tasks()
        .to_vec()
}

fn ids(tasks: &[aws_sdk_ecs::types::Task]) -> Vec<String> {
    let mut ids: Vec<String> = tasks
        .iter()
        .map(|t| t.task_arn().unwrap().rsplit('/').next().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_stays_within_maximum_percent_and_deregisters_before_stopping() {
    let setup = setup().await;
    let v1 = definition(&setup.ecs, "v1", false).await;
    create(&setup, &v1, 2, 150, 50).await;
    eventually(DEADLINE, || async {
        (registered(&setup).await.len() == 2).then_some(())
    })
    .await;
    let v2 = definition(&setup.ecs, "v2", false).await;
    setup
        .ecs
        .update_service()
        .service("web")
        .task_definition(&v2)
        .send()
        .await
        .unwrap();
    eventually(DEADLINE, || async {
        let tasks = running(&setup).await;
        let mut instances = registered(&setup).await;
        instances.sort();
        let done = tasks.len() == 2
            && tasks.iter().all(|t| {
                t.task_definition_arn() == Some(v2.as_str()) && t.last_status() == Some("RUNNING")
            })
            && instances == ids(&tasks)
            && setup.runtime.with(|s| s.live.len() == 2);
        done.then_some(())
    })
    .await;
    setup.runtime.with(|s| {
        // 2 desired × 150 % = 3 tasks at most at any time.
        assert!(s.peak_live <= 3, "peak {} tasks", s.peak_live);
        assert_eq!(s.stops.len(), 2);
        assert!(
            s.stops.iter().all(|(_, registered)| !registered),
            "{:?}",
            s.stops
        );
    });
    let service = setup
        .ecs
        .describe_services()
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    assert_eq!(service.deployments().len(), 1);
    assert_eq!(
        service.deployments()[0].task_definition(),
        Some(v2.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_launches_back_off_exponentially() {
    let setup = setup().await;
    setup.runtime.with(|s| s.fail_starts = true);
    let v1 = definition(&setup.ecs, "v1", false).await;
    create(&setup, &v1, 1, 200, 100).await;
    eventually(Duration::from_secs(20), || async {
        (setup.runtime.with(|s| s.starts.len()) >= 4).then_some(())
    })
    .await;
    let starts = setup.runtime.with(|s| s.starts.clone());
    // The first replacement is immediate; then the pauses are at least 1 s and 2 s.
    assert!(
        starts[2] - starts[1] >= Duration::from_secs(1),
        "{:?}",
        starts[2] - starts[1]
    );
    assert!(
        starts[3] - starts[2] >= Duration::from_secs(2),
        "{:?}",
        starts[3] - starts[2]
    );
    let stopped = setup
        .ecs
        .list_tasks()
        .service_name("web")
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .unwrap();
    let described = setup
        .ecs
        .describe_tasks()
        .tasks(&stopped.task_arns()[0])
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.tasks()[0].stopped_reason(),
        Some("CannotPullContainerError: scripted failure")
    );
    let service = setup
        .ecs
        .describe_services()
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    assert!(service.deployments()[0].failed_tasks() >= 3);
    assert!(registered(&setup).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_down_deregisters_the_extra_tasks_before_stopping_them() {
    let setup = setup().await;
    let v1 = definition(&setup.ecs, "v1", false).await;
    create(&setup, &v1, 3, 200, 100).await;
    eventually(DEADLINE, || async {
        (registered(&setup).await.len() == 3).then_some(())
    })
    .await;
    setup
        .ecs
        .update_service()
        .service("web")
        .desired_count(1)
        .send()
        .await
        .unwrap();
    eventually(DEADLINE, || async {
        let done = registered(&setup).await.len() == 1
            && setup
                .runtime
                .with(|s| s.live.len() == 1 && s.stops.len() == 2);
        done.then_some(())
    })
    .await;
    setup.runtime.with(|s| {
        assert!(
            s.stops.iter().all(|(_, registered)| !registered),
            "{:?}",
            s.stops
        )
    });
    let remaining = registered(&setup).await;
    assert_eq!(remaining, ids(&running(&setup).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_health_drives_custom_health_and_replaces_unhealthy_tasks() {
    let setup = setup().await;
    setup
        .runtime
        .with(|s| s.health = Some(ContainerHealth::Starting));
    let v1 = definition(&setup.ecs, "v1", true).await;
    create(&setup, &v1, 1, 200, 100).await;
    let first = eventually(DEADLINE, || async {
        let tasks = running(&setup).await;
        let task = tasks.first()?.clone();
        (task.last_status() == Some("RUNNING")).then_some(task)
    })
    .await;
    let first_id = ids(std::slice::from_ref(&first)).remove(0);
    let status = |id: String| {
        let client = setup.server.client.clone();
        let service = setup.service_id.clone();
        async move {
            client
                .get_instances_health_status()
                .service_id(service)
                .send()
                .await
                .unwrap()
                .status()
                .and_then(|s| s.get(&id))
                .map(|s| s.as_str().to_owned())
        }
    };
    // Registered UNHEALTHY (AWS_INIT_HEALTH_STATUS) while the health check has not passed yet.
    assert_eq!(status(first_id.clone()).await.as_deref(), Some("UNHEALTHY"));
    setup.runtime.with(|s| {
        for entry in s.live.values_mut() {
            entry.1 = ContainerHealth::Healthy;
        }
    });
    eventually(DEADLINE, || async {
        (status(first_id.clone()).await.as_deref() == Some("HEALTHY")).then_some(())
    })
    .await;
    setup.runtime.with(|s| {
        s.health = Some(ContainerHealth::Healthy);
        s.live.get_mut(&first_id).unwrap().1 = ContainerHealth::Unhealthy;
    });
    eventually(DEADLINE, || async {
        let tasks = running(&setup).await;
        let replaced = tasks.len() == 1 && ids(&tasks)[0] != first_id;
        let registered = registered(&setup).await;
        (replaced && registered == ids(&tasks)).then_some(())
    })
    .await;
    let stopped = setup
        .ecs
        .describe_tasks()
        .tasks(&first_id)
        .send()
        .await
        .unwrap()
        .tasks()[0]
        .clone();
    assert_eq!(
        stopped.stopped_reason(),
        Some("Task failed container health checks")
    );
    assert_eq!(
        stopped.health_status().map(|h| h.as_str()),
        Some("UNHEALTHY")
    );
    setup
        .runtime
        .with(|s| assert_eq!(s.stops, vec![(first_id.clone(), false)]));
}
