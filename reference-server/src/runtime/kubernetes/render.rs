//! The Kubernetes objects the Kubernetes runtime creates, as pure functions of a task or a set of
//! DNS zones, so every object can be snapshot-tested without a cluster.
//!
//! - one Namespace `<cluster>-<region>` per ECS cluster (the docs' `default-us-east-1`);
//! - one Pod per task, named `task-<task id>`, created directly by the ECS scheduler (no
//!   Deployment: ECS's own scheduler is the reconciler — desired counts, rollouts, backoff and the
//!   Cloud Map deregistration that must precede every deletion stay in one place, the same for
//!   Docker and Kubernetes; a Deployment would replace and delete pods behind its back);
//! - in `rewrite` DNS mode, one headless Service per Cloud Map service, selecting the pods
//!   registered to it (so CoreDNS returns several pod IPs, as the docs describe);
//! - the `coredns-custom` ConfigMap in `kube-system` with one server block per DNS namespace,
//!   reloaded by CoreDNS's `reload` plugin (DNS pods are never deleted).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, ContainerPort, EnvVar, ExecAction, Namespace, Pod, PodSpec, Probe,
    ResourceRequirements, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::runtime::{ClusterRef, ContainerSpec, NetworkMode, TaskSpec};

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGER: &str = "cloudmap-reference-server";
pub const OWNER: &str = "cloudmap.io/owner";
pub const TASK: &str = "cloudmap.io/task";
pub const FAMILY: &str = "cloudmap.io/task-definition-family";
pub const ECS_SERVICE: &str = "cloudmap.io/ecs-service";
/// The Cloud Map service a pod is registered to (the headless Service selects on it).
pub const DISCOVERY_SERVICE: &str = "cloudmap.io/discovery-service";

/// How pods resolve the Cloud Map DNS namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsMode {
    /// CoreDNS forwards each namespace zone to the reference server's DNS (`IP:PORT`): Cloud
    /// Map's answers exactly — routing policy, TTLs, health filtering.
    Forward(std::net::SocketAddr),
    /// The docs' configuration: CoreDNS rewrites `<service>.<zone>` to the headless Service
    /// `<service>.<cluster>-<region>.svc.cluster.local` of the region's `default` cluster and
    /// answers with its ready pods (Kubernetes readiness, not Cloud Map health; TTL from CoreDNS).
    Rewrite,
}

/// A DNS namespace to route, with the region it lives in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Zone {
    pub name: String,
    pub region: String,
}

/// A DNS-1123 label: lowercase letters, digits and `-`, at most 63, starting and ending
/// alphanumeric.
pub fn dns_label(text: &str) -> String {
    let mut label: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    label.truncate(63);
    let trimmed = label.trim_matches('-');
    if trimmed.is_empty() {
        "x".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// `<cluster>-<region>` as a DNS label. When that loses information (case, `_`, length), a hash
/// of the exact names is appended, so `a_b` and `a-b` never share a namespace.
pub fn namespace_name(cluster: &ClusterRef) -> String {
    let exact = format!("{}-{}", cluster.name, cluster.region);
    let label = dns_label(&exact);
    if label == exact {
        return label;
    }
    // FNV-1a: stable across runs and builds, unlike the standard library's hasher.
    let hash = exact.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let suffix = format!("-{:08x}", hash as u32);
    let mut base = label;
    base.truncate(63 - suffix.len());
    format!("{}{suffix}", base.trim_end_matches('-'))
}

pub fn pod_name(task_id: &str) -> String {
    dns_label(&format!("task-{task_id}"))
}

fn labels(owner: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (MANAGED_BY.to_owned(), MANAGER.to_owned()),
        (OWNER.to_owned(), owner.to_owned()),
    ]);
    for (key, value) in extra {
        labels.insert((*key).to_owned(), dns_label(value));
    }
    labels
}

pub fn namespace(cluster: &ClusterRef, owner: &str) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(namespace_name(cluster)),
            labels: Some(labels(owner, &[])),
            annotations: Some(BTreeMap::from([
                ("cloudmap.io/ecs-cluster".to_owned(), cluster.name.clone()),
                ("cloudmap.io/region".to_owned(), cluster.region.clone()),
            ])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// ECS health check → exec probe: `CMD-SHELL x` runs `sh -c x`, `CMD a b` runs `a b`.
fn probe(container: &ContainerSpec) -> Option<Probe> {
    let check = container.health_check.as_ref()?;
    let command = match check.command.split_first() {
        Some((first, rest)) if first == "CMD-SHELL" => {
            vec!["/bin/sh".to_owned(), "-c".to_owned(), rest.join(" ")]
        }
        Some((first, rest)) if first == "CMD" => rest.to_vec(),
        _ => return None,
    };
    Some(Probe {
        exec: Some(ExecAction {
            command: Some(command),
        }),
        period_seconds: Some(i32::try_from(check.interval).unwrap_or(30)),
        timeout_seconds: Some(i32::try_from(check.timeout).unwrap_or(5)),
        failure_threshold: Some(i32::try_from(check.retries).unwrap_or(3)),
        initial_delay_seconds: check.start_period.map(|s| i32::try_from(s).unwrap_or(0)),
        success_threshold: Some(1),
        ..Probe::default()
    })
}

fn container(spec: &TaskSpec, container: &ContainerSpec) -> Container {
    let mut limits = BTreeMap::new();
    if let Some(memory) = container.memory_mib {
        limits.insert("memory".to_owned(), Quantity(format!("{memory}Mi")));
    }
    let mut requests = BTreeMap::new();
    if container.cpu_units > 0 {
        // ECS CPU units: 1024 per vCPU.
        requests.insert(
            "cpu".to_owned(),
            Quantity(format!("{}m", container.cpu_units * 1000 / 1024)),
        );
    }
    let probe = probe(container);
    Container {
        name: dns_label(&container.name),
        image: Some(container.image.clone()),
        // ECS entryPoint is the image's ENTRYPOINT (Kubernetes `command`), ECS command its CMD
        // (Kubernetes `args`).
        command: container.entry_point.clone(),
        args: container.command.clone(),
        env: (!container.environment.is_empty()).then(|| {
            container
                .environment
                .iter()
                .map(|kv| EnvVar {
                    name: kv.name.clone(),
                    value: Some(kv.value.clone()),
                    ..EnvVar::default()
                })
                .collect()
        }),
        ports: (!container.port_mappings.is_empty()).then(|| {
            container
                .port_mappings
                .iter()
                .map(|(container_port, host_port, protocol)| ContainerPort {
                    container_port: i32::from(*container_port),
                    host_port: (spec.network_mode == NetworkMode::Bridge && *host_port != 0)
                        .then_some(i32::from(*host_port)),
                    protocol: Some(protocol.to_ascii_uppercase()),
                    ..ContainerPort::default()
                })
                .collect()
        }),
        working_dir: container.working_directory.clone(),
        readiness_probe: probe.clone(),
        liveness_probe: probe,
        resources: (!limits.is_empty() || !requests.is_empty()).then(|| ResourceRequirements {
            limits: (!limits.is_empty()).then_some(limits),
            requests: (!requests.is_empty()).then_some(requests),
            ..ResourceRequirements::default()
        }),
        ..Container::default()
    }
}

/// The pod of a task. Containers never restart (ECS replaces the task instead); the grace period
/// is the longest container stop timeout.
pub fn pod(spec: &TaskSpec, owner: &str) -> Pod {
    let mut extra = vec![
        (TASK, spec.task_id.as_str()),
        (FAMILY, spec.family.as_str()),
    ];
    if let Some(service) = &spec.ecs_service {
        extra.push((ECS_SERVICE, service));
    }
    if let Some(service) = &spec.discovery_service {
        extra.push((DISCOVERY_SERVICE, service));
    }
    let grace = spec
        .containers
        .iter()
        .map(|c| c.stop_timeout.as_secs())
        .max()
        .unwrap_or(30);
    Pod {
        metadata: ObjectMeta {
            name: Some(pod_name(&spec.task_id)),
            namespace: Some(namespace_name(&spec.cluster)),
            labels: Some(labels(owner, &extra)),
            annotations: Some(BTreeMap::from([(
                "cloudmap.io/task-definition".to_owned(),
                format!("{}:{}", spec.family, spec.revision),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: spec.containers.iter().map(|c| container(spec, c)).collect(),
            restart_policy: Some("Never".to_owned()),
            host_network: (spec.network_mode == NetworkMode::Host).then_some(true),
            termination_grace_period_seconds: Some(i64::try_from(grace).unwrap_or(30)),
            enable_service_links: Some(false),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

/// The headless Service for a Cloud Map service in `rewrite` mode: named after it, in the ECS
/// cluster's namespace, selecting the pods registered to it.
pub fn headless_service(cluster: &ClusterRef, discovery_service: &str, owner: &str) -> Service {
    let name = dns_label(discovery_service);
    Service {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace_name(cluster)),
            labels: Some(labels(owner, &[(DISCOVERY_SERVICE, discovery_service)])),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            selector: Some(BTreeMap::from([(DISCOVERY_SERVICE.to_owned(), name)])),
            // A headless Service without ports still gets endpoints for its selected pods; one
            // placeholder port keeps older API servers happy.
            ports: Some(vec![ServicePort {
                name: Some("discovery".to_owned()),
                port: 1,
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            publish_not_ready_addresses: Some(false),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn escape_regex(name: &str) -> String {
    name.replace('.', "\\.")
}

/// CoreDNS server blocks, one per zone, in zone order.
pub fn corefile(zones: &[Zone], mode: &DnsMode) -> String {
    let mut zones = zones.to_vec();
    zones.sort();
    zones.dedup_by(|a, b| a.name == b.name);
    let mut out = String::from(
        "# Managed by cloudmap-reference-server: one server block per Cloud Map DNS namespace.\n",
    );
    for zone in &zones {
        let name = zone.name.trim_end_matches('.');
        match mode {
            DnsMode::Forward(server) => {
                out.push_str(&format!(
                    "{name}:53 {{\n    errors\n    forward . {server}\n    reload\n}}\n"
                ));
            }
            DnsMode::Rewrite => {
                let namespace = namespace_name(&ClusterRef {
                    region: zone.region.clone(),
                    name: "default".to_owned(),
                });
                let escaped = escape_regex(name);
                out.push_str(&format!(
                    "{name}:53 {{\n    errors\n    rewrite stop {{\n        name regex (.*)\\.{escaped} {{1}}.{namespace}.svc.cluster.local\n        answer name (.*)\\.{namespace}\\.svc\\.cluster\\.local {{1}}.{name}\n    }}\n    kubernetes cluster.local in-addr.arpa ip6.arpa {{\n        pods insecure\n        fallthrough in-addr.arpa ip6.arpa\n    }}\n    cache 30\n    loop\n    reload\n    loadbalance\n}}\n"
                ));
            }
        }
    }
    out
}

/// The `coredns-custom` ConfigMap that k3s's CoreDNS imports (`*.server` keys).
pub fn coredns_custom(zones: &[Zone], mode: &DnsMode) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some("coredns-custom".to_owned()),
            namespace: Some("kube-system".to_owned()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY.to_owned(),
                MANAGER.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            "cloudmap.server".to_owned(),
            corefile(zones, mode),
        )])),
        ..ConfigMap::default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ecs::model::ContainerDefinition;

    /// The docs' example as this server would run it on Kubernetes: the example's own task
    /// definition files, the seed's ECS service, cluster `default` in us-east-1.
    fn example_task(file: &str, task_id: &str, ecs_service: &str, discovery: &str) -> TaskSpec {
        let path = format!(
            "{}/../examples/service-to-service-communication/task-definitions/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let document: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let definitions: Vec<ContainerDefinition> =
            serde_json::from_value(document["containerDefinitions"].clone()).unwrap();
        TaskSpec {
            cluster: ClusterRef {
                region: "us-east-1".to_owned(),
                name: "default".to_owned(),
            },
            task_id: task_id.to_owned(),
            family: document["family"].as_str().unwrap().to_owned(),
            revision: 1,
            network_mode: NetworkMode::Awsvpc,
            containers: definitions
                .iter()
                .map(|d| ContainerSpec::from_definition(d, Duration::from_secs(30)))
                .collect(),
            dns_server: None,
            ecs_service: Some(ecs_service.to_owned()),
            discovery_service: Some(discovery.to_owned()),
        }
    }

    fn yaml<T: serde::Serialize>(object: &T) -> String {
        serde_norway::to_string(object).unwrap()
    }

    fn zones() -> Vec<Zone> {
        ["app.local", "staging.local", "dev.local"]
            .into_iter()
            .map(|name| Zone {
                name: name.to_owned(),
                region: "us-east-1".to_owned(),
            })
            .collect()
    }

    const OWNER: &str = "0a1b2c3d";

    #[test]
    fn the_docs_example_renders_namespace_pods_and_services() {
        let cluster = ClusterRef {
            region: "us-east-1".to_owned(),
            name: "default".to_owned(),
        };
        insta::assert_snapshot!("namespace", yaml(&namespace(&cluster, OWNER)));
        let backend = example_task(
            "backend-api.json",
            "0123456789abcdef0123456789abcdef",
            "backend-api-service",
            "backend-api",
        );
        insta::assert_snapshot!("backend_pod", yaml(&pod(&backend, OWNER)));
        let frontend = example_task(
            "frontend-web.json",
            "fedcba9876543210fedcba9876543210",
            "frontend-web-service",
            "frontend-web",
        );
        insta::assert_snapshot!("frontend_pod", yaml(&pod(&frontend, OWNER)));
        insta::assert_snapshot!(
            "backend_headless_service",
            yaml(&headless_service(&cluster, "backend-api", OWNER))
        );
        // The docs' namespace name, and health checks as both probes.
        let rendered = pod(&backend, OWNER);
        assert_eq!(
            rendered.metadata.namespace.as_deref(),
            Some("default-us-east-1")
        );
        let container = &rendered.spec.as_ref().unwrap().containers[0];
        assert_eq!(
            container
                .readiness_probe
                .as_ref()
                .unwrap()
                .exec
                .as_ref()
                .unwrap()
                .command,
            Some(vec![
                "/bin/sh".to_owned(),
                "-c".to_owned(),
                "wget -q -O /dev/null http://localhost:8080/health || exit 1".to_owned()
            ])
        );
        assert_eq!(container.readiness_probe, container.liveness_probe);
    }

    #[test]
    fn coredns_custom_forwards_every_namespace_to_our_dns() {
        let mode = DnsMode::Forward("10.43.0.53:53".parse().unwrap());
        insta::assert_snapshot!(
            "coredns_custom_forward",
            yaml(&coredns_custom(&zones(), &mode))
        );
        let corefile = corefile(&zones(), &mode);
        assert_eq!(corefile.matches(":53 {").count(), 3);
        assert!(
            corefile
                .contains("app.local:53 {\n    errors\n    forward . 10.43.0.53:53\n    reload\n}")
        );
        // Cloud Map's TTLs reach clients unchanged: no cache in forward mode.
        assert!(!corefile.contains("cache"));
    }

    #[test]
    fn coredns_custom_rewrites_as_the_docs_show() {
        let corefile = corefile(&zones()[..1], &DnsMode::Rewrite);
        insta::assert_snapshot!("corefile_rewrite", corefile);
        for line in [
            "name regex (.*)\\.app\\.local {1}.default-us-east-1.svc.cluster.local",
            "kubernetes cluster.local in-addr.arpa ip6.arpa {",
            "pods insecure",
            "cache 30",
            "reload",
            "loadbalance",
        ] {
            assert!(corefile.contains(line), "{line} missing from\n{corefile}");
        }
    }

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(
            dns_label("Default_Cluster-us-east-1"),
            "default-cluster-us-east-1"
        );
        assert_eq!(dns_label("--x--"), "x");
        assert_eq!(dns_label("___"), "x");
        assert_eq!(dns_label(&"a".repeat(80)).len(), 63);
        assert_eq!(
            namespace_name(&ClusterRef {
                region: "eu-west-2".to_owned(),
                name: "prod".to_owned()
            }),
            "prod-eu-west-2"
        );
        // Names that lose information as labels get a hash: they never collide.
        let of = |name: &str| {
            namespace_name(&ClusterRef {
                region: "us-east-1".to_owned(),
                name: name.to_owned(),
            })
        };
        assert_ne!(of("a_b"), of("a-b"));
        assert_ne!(of("Web"), of("web"));
        assert!(of("a_b").starts_with("a-b-us-east-1-"));
        let long = of(&"x".repeat(255));
        assert!(long.len() <= 63, "{long}");
        assert_ne!(long, of(&"x".repeat(254)));
    }

    /// The deployment manifests of the reference server parse as the Kubernetes objects they claim
    /// to be.
    #[test]
    fn the_deployment_manifests_are_valid_objects() {
        let path = format!("{}/deploy/kubernetes.yaml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        let mut kinds = Vec::new();
        for document in serde_norway::Deserializer::from_str(&text) {
            let value = serde_norway::Value::deserialize(document).unwrap();
            let kind = value["kind"].as_str().unwrap().to_owned();
            let json = serde_json::to_value(&value).unwrap();
            match kind.as_str() {
                "Namespace" => drop(serde_json::from_value::<Namespace>(json).unwrap()),
                "Service" => drop(serde_json::from_value::<Service>(json).unwrap()),
                "ServiceAccount" => drop(
                    serde_json::from_value::<k8s_openapi::api::core::v1::ServiceAccount>(json)
                        .unwrap(),
                ),
                "ClusterRole" => drop(
                    serde_json::from_value::<k8s_openapi::api::rbac::v1::ClusterRole>(json)
                        .unwrap(),
                ),
                "ClusterRoleBinding" => drop(
                    serde_json::from_value::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>(json)
                        .unwrap(),
                ),
                "Deployment" => drop(
                    serde_json::from_value::<k8s_openapi::api::apps::v1::Deployment>(json).unwrap(),
                ),
                other => panic!("unexpected kind {other}"),
            }
            kinds.push(kind);
        }
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Deployment",
                "Service"
            ]
        );
    }

    use serde::Deserialize;
}
