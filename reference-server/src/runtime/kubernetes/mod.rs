//! ECS tasks as Kubernetes pods (kube, k8s-openapi), and the cluster DNS that lets pods resolve
//! the Cloud Map namespaces (`coredns.rs`). The objects are rendered in `render.rs`.
//!
//! - `prepare_cluster` applies the cluster's Namespace; `start_task` creates the task's pod and
//!   waits until it runs and has an IP (a pod that cannot pull its image, or fails, stops the task
//!   with ECS's reason); `inspect_task` maps container states and readiness to the task's
//!   containers (readiness is the container health check); `stop_task` deletes the pod with the
//!   task's grace period and waits until it is gone — the driver has deregistered the task from
//!   Cloud Map before; `sweep` deletes pods labelled with our owner that belong to no live task.
//! - Tasks reach the reference server's DNS through CoreDNS (`coredns.rs`), not through a listener
//!   on a network gateway, so `ClusterNetwork::dns` is `None` here.
//!
//! Verified here only through the rendered objects and the runtime-independent scheduler tests:
//! no Kubernetes API server can run on this machine (no k3s image or binary can be obtained); the
//! live tests in `tests/it/kubernetes.rs` run where `KUBECONFIG` points at a cluster.

pub mod coredns;
pub mod render;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};

use super::{
    Binding, BoxFuture, ClusterNetwork, ClusterRef, ContainerHealth, ContainerState,
    ContainerStatus, NetworkMode, RuntimeError, StartedTask, TaskRuntime, TaskSpec,
};
pub use render::DnsMode;

/// How long a pod may take to be scheduled, pull its images and start.
const START_DEADLINE: Duration = Duration::from_secs(300);
const FIELD_MANAGER: &str = "cloudmap-reference-server";

#[derive(Clone)]
pub struct KubernetesRuntime {
    client: kube::Client,
    owner: String,
    mode: DnsMode,
}

impl std::fmt::Debug for KubernetesRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesRuntime")
            .field("owner", &self.owner)
            .field("mode", &self.mode)
            .finish()
    }
}

fn error(prefix: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError(format!("{prefix}: {e}"))
}

impl KubernetesRuntime {
    /// Connects with `KUBECONFIG` (or `~/.kube/config`, or the in-cluster service account).
    pub async fn connect(owner: String, mode: DnsMode) -> Result<KubernetesRuntime, RuntimeError> {
        let client = kube::Client::try_default().await.map_err(|e| {
            error(
                "no Kubernetes API server (KUBECONFIG or in-cluster config)",
                e,
            )
        })?;
        client
            .apiserver_version()
            .await
            .map_err(|e| error("the Kubernetes API server does not answer", e))?;
        Ok(KubernetesRuntime {
            client,
            owner,
            mode,
        })
    }

    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    pub fn mode(&self) -> &DnsMode {
        &self.mode
    }

    fn selector(&self) -> String {
        format!("{}={}", render::OWNER, self.owner)
    }

    async fn apply_headless_service(&self, spec: &TaskSpec) -> Result<(), RuntimeError> {
        let (DnsMode::Rewrite, Some(service)) = (&self.mode, &spec.discovery_service) else {
            return Ok(());
        };
        let object = render::headless_service(&spec.cluster, service, &self.owner);
        let api: Api<Service> =
            Api::namespaced(self.client.clone(), &render::namespace_name(&spec.cluster));
        api.patch(
            &render::dns_label(service),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await
        .map_err(|e| {
            error(
                "ResourceInitializationError: cannot apply the headless Service",
                e,
            )
        })?;
        Ok(())
    }

    async fn wait_running(&self, api: &Api<Pod>, name: &str) -> Result<Pod, RuntimeError> {
        let deadline = Instant::now() + START_DEADLINE;
        let mut pause = Duration::from_millis(100);
        loop {
            let pod = api
                .get(name)
                .await
                .map_err(|e| error("CannotInspectContainerError", e))?;
            let status = pod.status.clone().unwrap_or_default();
            for container in status.container_statuses.iter().flatten() {
                if let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref()) {
                    let reason = waiting.reason.clone().unwrap_or_default();
                    if ["ErrImagePull", "ImagePullBackOff", "InvalidImageName"]
                        .contains(&reason.as_str())
                    {
                        return Err(RuntimeError(format!(
                            "CannotPullContainerError: {}: {}",
                            container.image,
                            waiting.message.clone().unwrap_or(reason)
                        )));
                    }
                    if reason == "CreateContainerConfigError" || reason == "CreateContainerError" {
                        return Err(RuntimeError(format!(
                            "CannotStartContainerError: {}: {}",
                            container.name,
                            waiting.message.clone().unwrap_or(reason)
                        )));
                    }
                }
            }
            match status.phase.as_deref() {
                Some("Running") if status.pod_ip.is_some() => return Ok(pod),
                Some("Failed") | Some("Succeeded") => {
                    return Err(RuntimeError(format!(
                        "CannotStartContainerError: the pod ended before running: {}",
                        status.message.unwrap_or_default()
                    )));
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(RuntimeError(format!(
                    "ResourceInitializationError: the pod did not run within {START_DEADLINE:?}"
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    fn statuses(pod: &Pod, spec_probes: &[(String, bool)]) -> Vec<ContainerStatus> {
        let status = pod.status.clone().unwrap_or_default();
        spec_probes
            .iter()
            .map(|(name, has_probe)| {
                // Pod containers are named after the ECS names as DNS labels; answers use the
                // ECS names the driver knows.
                let label = render::dns_label(name);
                let found = status
                    .container_statuses
                    .iter()
                    .flatten()
                    .find(|c| c.name == label);
                let Some(found) = found else {
                    return ContainerStatus {
                        name: name.clone(),
                        state: ContainerState::Pending,
                        health: ContainerHealth::None,
                    };
                };
                let state = match found.state.as_ref() {
                    Some(s) if s.running.is_some() => ContainerState::Running,
                    Some(s) if s.terminated.is_some() => {
                        let t = s.terminated.clone().unwrap_or_default();
                        ContainerState::Exited {
                            code: i64::from(t.exit_code),
                            reason: t.reason.filter(|r| r != "Completed" && r != "Error"),
                        }
                    }
                    _ => ContainerState::Pending,
                };
                let health = match (has_probe, found.ready, found.started) {
                    (false, _, _) => ContainerHealth::None,
                    (true, true, _) => ContainerHealth::Healthy,
                    // Started and not ready after having been ready: the readiness probe fails.
                    (true, false, Some(true)) if was_ready(pod) => ContainerHealth::Unhealthy,
                    (true, false, _) => ContainerHealth::Starting,
                };
                ContainerStatus {
                    name: name.clone(),
                    state,
                    health,
                }
            })
            .collect()
    }
}

/// Whether the pod was Ready before (its Ready condition changed to False after being True):
/// Kubernetes keeps only the last transition, so a pod that never became ready is "starting".
fn was_ready(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("cloudmap.io/was-ready"))
}

/// A task's pod: namespace, name, and per container whether it has a health check.
type PodHandle = (String, String, Vec<(String, bool)>);

/// `namespace/pod` and, per container, whether it has a health check.
fn encode_handle(namespace: &str, pod: &str, probes: &[(String, bool)]) -> String {
    let containers: Vec<String> = probes
        .iter()
        .map(|(name, probe)| format!("{name}:{}", u8::from(*probe)))
        .collect();
    format!("{namespace}/{pod}/{}", containers.join(","))
}

fn decode_handle(handle: &str) -> Option<PodHandle> {
    let mut parts = handle.splitn(3, '/');
    let namespace = parts.next()?.to_owned();
    let pod = parts.next()?.to_owned();
    let probes = parts
        .next()
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once(':'))
        .map(|(name, probe)| (name.to_owned(), probe == "1"))
        .collect();
    Some((namespace, pod, probes))
}

impl TaskRuntime for KubernetesRuntime {
    fn check(&self) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            self.client
                .apiserver_version()
                .await
                .map(|_| ())
                .map_err(|e| {
                    error(
                        "ResourceInitializationError: the Kubernetes API server does not answer",
                        e,
                    )
                })
        })
    }

    fn prepare_cluster<'a>(
        &'a self,
        cluster: &'a ClusterRef,
    ) -> BoxFuture<'a, Result<ClusterNetwork, RuntimeError>> {
        Box::pin(async move {
            let api: Api<Namespace> = Api::all(self.client.clone());
            let object = render::namespace(cluster, &self.owner);
            api.patch(
                &render::namespace_name(cluster),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&object),
            )
            .await
            .map_err(|e| {
                error(
                    "ResourceInitializationError: cannot apply the cluster's namespace",
                    e,
                )
            })?;
            Ok(ClusterNetwork { dns: None })
        })
    }

    fn remove_cluster<'a>(
        &'a self,
        cluster: &'a ClusterRef,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let api: Api<Namespace> = Api::all(self.client.clone());
            match api
                .delete(&render::namespace_name(cluster), &DeleteParams::default())
                .await
            {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
                Err(e) => Err(error("cannot delete the cluster's namespace", e)),
            }
        })
    }

    fn start_task<'a>(
        &'a self,
        spec: &'a TaskSpec,
    ) -> BoxFuture<'a, Result<StartedTask, RuntimeError>> {
        Box::pin(async move {
            let namespace = render::namespace_name(&spec.cluster);
            let object = render::pod(spec, &self.owner);
            let name = render::pod_name(&spec.task_id);
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
            self.apply_headless_service(spec).await?;
            api.create(&PostParams::default(), &object)
                .await
                .map_err(|e| error("CannotCreateContainerError", e))?;
            let pod = match self.wait_running(&api, &name).await {
                Ok(pod) => pod,
                Err(failure) => {
                    let _ = api.delete(&name, &DeleteParams::default()).await;
                    return Err(failure);
                }
            };
            let status = pod.status.clone().unwrap_or_default();
            let ipv4 = status
                .pod_ip
                .as_deref()
                .and_then(|ip| ip.parse::<Ipv4Addr>().ok());
            let host_ip = status.host_ip.as_deref().and_then(|ip| ip.parse().ok());
            let bindings = spec
                .containers
                .iter()
                .flat_map(|c| {
                    c.port_mappings
                        .iter()
                        .map(move |(container_port, host_port, protocol)| {
                            let bridge =
                                spec.network_mode == NetworkMode::Bridge && *host_port != 0;
                            Binding {
                                container: c.name.clone(),
                                container_port: *container_port,
                                host_port: if bridge { *host_port } else { *container_port },
                                protocol: protocol.clone(),
                                host_ip: if bridge { host_ip } else { None }
                                    .or(ipv4.map(std::net::IpAddr::V4))
                                    .unwrap_or(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                            }
                        })
                })
                .collect();
            let probes: Vec<(String, bool)> = spec
                .containers
                .iter()
                .map(|c| (c.name.clone(), c.health_check.is_some()))
                .collect();
            let runtime_ids = spec
                .containers
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        format!("{namespace}/{name}/{}", render::dns_label(&c.name)),
                    )
                })
                .collect();
            Ok(StartedTask {
                handle: encode_handle(&namespace, &name, &probes),
                ipv4,
                bindings,
                runtime_ids,
            })
        })
    }

    fn inspect_task<'a>(
        &'a self,
        handle: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContainerStatus>, RuntimeError>> {
        Box::pin(async move {
            let (namespace, name, probes) = decode_handle(handle)
                .ok_or_else(|| RuntimeError(format!("bad task handle {handle}")))?;
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
            let Some(pod) = api
                .get_opt(&name)
                .await
                .map_err(|e| error("cannot read the pod", e))?
            else {
                return Ok(probes
                    .iter()
                    .map(|(n, _)| ContainerStatus {
                        name: n.clone(),
                        state: ContainerState::Missing,
                        health: ContainerHealth::None,
                    })
                    .collect());
            };
            // Remember that the pod has been ready, so a later unready state reads as unhealthy.
            let ready = pod
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .is_some_and(|c| !c.is_empty() && c.iter().all(|c| c.ready));
            if ready && !was_ready(&pod) {
                let patch = serde_json::json!({"metadata": {"annotations": {"cloudmap.io/was-ready": "true"}}});
                let _ = api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await;
            }
            Ok(Self::statuses(&pod, &probes))
        })
    }

    fn stop_task<'a>(
        &'a self,
        handle: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContainerStatus>, RuntimeError>> {
        Box::pin(async move {
            let (namespace, name, probes) = decode_handle(handle)
                .ok_or_else(|| RuntimeError(format!("bad task handle {handle}")))?;
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
            let last = api
                .get_opt(&name)
                .await
                .map_err(|e| error("cannot read the pod", e))?;
            let Some(last) = last else {
                return Ok(Vec::new());
            };
            let grace = last
                .spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
                .unwrap_or(30);
            let params = DeleteParams {
                grace_period_seconds: u32::try_from(grace).ok(),
                ..DeleteParams::default()
            };
            match api.delete(&name, &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(error("cannot delete the pod", e)),
            }
            let deadline =
                Instant::now() + Duration::from_secs(u64::try_from(grace).unwrap_or(30) + 60);
            let mut final_pod = last;
            while let Some(pod) = api
                .get_opt(&name)
                .await
                .map_err(|e| error("cannot read the pod", e))?
            {
                final_pod = pod;
                if Instant::now() > deadline {
                    return Err(RuntimeError(format!(
                        "pod {namespace}/{name} was not deleted in time"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Ok(Self::statuses(&final_pod, &probes))
        })
    }

    fn sweep<'a>(
        &'a self,
        live: &'a HashSet<String>,
    ) -> BoxFuture<'a, Result<usize, RuntimeError>> {
        Box::pin(async move {
            let api: Api<Pod> = Api::all(self.client.clone());
            let pods = api
                .list(&ListParams::default().labels(&self.selector()))
                .await
                .map_err(|e| error("cannot list pods", e))?;
            let mut removed = 0;
            for pod in pods {
                let task = pod
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(render::TASK))
                    .cloned()
                    .unwrap_or_default();
                if live.contains(&task) {
                    continue;
                }
                let (Some(namespace), Some(name)) =
                    (pod.metadata.namespace.clone(), pod.metadata.name.clone())
                else {
                    continue;
                };
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
                if api.delete(&name, &DeleteParams::default()).await.is_ok() {
                    removed += 1;
                }
            }
            Ok(removed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip() {
        let probes = vec![("backend".to_owned(), true), ("sidecar".to_owned(), false)];
        let handle = encode_handle("default-us-east-1", "task-abc", &probes);
        assert_eq!(
            decode_handle(&handle),
            Some((
                "default-us-east-1".to_owned(),
                "task-abc".to_owned(),
                probes
            ))
        );
    }
}
