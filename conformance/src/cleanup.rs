//! What a scenario leaves behind, found and removed after it — whether it passed or failed — so
//! that the suite can run against an endpoint that holds other state, and run there again.
//!
//! A resource is the scenario's when
//! - its name contains the run's `${unique}` (every scenario that shares the target with others
//!   names its namespaces, ECS clusters and task definition families so), or
//! - the scenario is `exclusive` (it runs alone, see `suite.rs`) and the resource was not there
//!   before it started: the docs' fixed names (`app.local`, the cluster `default`) and whatever
//!   the example's shell scripts create are found this way;
//! - or it lives in one of the scenario's namespaces or clusters.
//!
//! Removal goes from the leaves up, the way a user would clean an AWS account: ECS services
//! scaled to 0 and deleted, tasks stopped, clusters deleted once they hold no task, task
//! definitions deregistered (ECS keeps them INACTIVE, as AWS does), Cloud Map instances
//! deregistered, services and namespaces deleted, each retried while the target still reports
//! it in use (deregistration and task stops are asynchronous) up to `DEADLINE`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::driver::{self, ApiResult};
use crate::scenario::{ApiService, Capability};
use crate::target::Target;

/// How long one kind of removal is retried while the target says the resource is still in use;
/// it covers ECS stop timeouts (30 s by default on AWS) on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(120);
/// Pause between two attempts of a removal the target is not ready for yet.
const RETRY: Duration = Duration::from_millis(100);
/// More pages than any listing here can have; a target that never stops paginating is an error.
const MAX_PAGES: usize = 10_000;

/// The target's resources at one moment: what cleanup compares and removes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Inventory {
    /// Cloud Map namespaces: (id, name).
    pub namespaces: Vec<(String, String)>,
    /// Cloud Map services: (id, name).
    pub services: Vec<(String, String)>,
    /// ECS clusters that are ACTIVE: (arn, name).
    pub clusters: Vec<(String, String)>,
    /// ECS services that are not INACTIVE: (cluster arn, service arn).
    pub ecs_services: Vec<(String, String)>,
    /// ECS tasks not yet told to stop: (cluster arn, task arn).
    pub tasks: Vec<(String, String)>,
    /// ACTIVE task definition revisions (arn).
    pub task_definitions: Vec<String>,
}

impl Inventory {
    pub fn is_empty(&self) -> bool {
        self == &Inventory::default()
    }

    /// What is in `self` but not in `before`.
    fn since(&self, before: &Inventory) -> Inventory {
        fn new<T: Clone + PartialEq>(now: &[T], before: &[T]) -> Vec<T> {
            now.iter()
                .filter(|x| !before.contains(x))
                .cloned()
                .collect()
        }
        Inventory {
            namespaces: new(&self.namespaces, &before.namespaces),
            services: new(&self.services, &before.services),
            clusters: new(&self.clusters, &before.clusters),
            ecs_services: new(&self.ecs_services, &before.ecs_services),
            tasks: new(&self.tasks, &before.tasks),
            task_definitions: new(&self.task_definitions, &before.task_definitions),
        }
    }

    /// One line per kind, for error messages: `2 namespaces (a.local, b.local), 1 task …`.
    pub fn describe(&self) -> String {
        let names = |items: Vec<&str>| {
            let shown: Vec<&str> = items.iter().take(5).copied().collect();
            let more = items.len().saturating_sub(shown.len());
            let mut text = shown.join(", ");
            if more > 0 {
                text.push_str(&format!(" and {more} more"));
            }
            text
        };
        [
            (
                "Cloud Map namespaces",
                names(self.namespaces.iter().map(|n| n.1.as_str()).collect()),
            ),
            (
                "Cloud Map services",
                names(self.services.iter().map(|s| s.1.as_str()).collect()),
            ),
            (
                "ECS clusters",
                names(self.clusters.iter().map(|c| c.1.as_str()).collect()),
            ),
            (
                "ECS services",
                names(self.ecs_services.iter().map(|s| s.1.as_str()).collect()),
            ),
            (
                "ECS tasks",
                names(self.tasks.iter().map(|t| t.1.as_str()).collect()),
            ),
            (
                "task definitions",
                names(self.task_definitions.iter().map(String::as_str).collect()),
            ),
        ]
        .into_iter()
        .filter(|(_, text)| !text.is_empty())
        .map(|(kind, text)| format!("{kind}: {text}"))
        .collect::<Vec<_>>()
        .join("; ")
    }
}

/// Talks to one target for cleanup.
pub struct Cleaner<'t> {
    target: &'t Target,
    client: reqwest::Client,
}

impl<'t> Cleaner<'t> {
    /// `client` is a handle (reqwest clients share one pool).
    pub fn new(target: &'t Target, client: reqwest::Client) -> Self {
        Cleaner { target, client }
    }

    async fn call(
        &self,
        service: ApiService,
        operation: &str,
        params: Value,
    ) -> anyhow::Result<ApiResult> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let result =
                driver::api(&self.client, self.target, service, operation, &params).await?;
            let throttled = matches!(
                result.error.as_deref(),
                Some("ThrottlingException" | "TooManyRequestsException" | "RequestLimitExceeded")
            );
            if !throttled || Instant::now() >= deadline {
                return Ok(result);
            }
            // Polling with a deadline: a throttled target is asked again a little later.
            tokio::time::sleep(RETRY * 5).await;
        }
    }

    /// `operation` must succeed; its body.
    async fn ok(
        &self,
        service: ApiService,
        operation: &str,
        params: Value,
    ) -> anyhow::Result<Value> {
        let result = self.call(service, operation, params).await?;
        match result.error {
            None => Ok(result.body),
            Some(code) => bail!("{operation} failed with {code}: {}", result.body),
        }
    }

    /// Every item of a paginated listing.
    async fn list(
        &self,
        service: ApiService,
        operation: &str,
        params: Value,
        items: &str,
    ) -> anyhow::Result<Vec<Value>> {
        Ok(self
            .list_unless(service, operation, params, items, &[])
            .await?
            .unwrap_or_default())
    }

    /// Every item of a paginated listing, or None when the target answers one of `gone` (what
    /// is listed was deleted meanwhile).
    async fn list_unless(
        &self,
        service: ApiService,
        operation: &str,
        mut params: Value,
        items: &str,
        gone: &[&str],
    ) -> anyhow::Result<Option<Vec<Value>>> {
        let token_key = match service {
            ApiService::Servicediscovery => "NextToken",
            ApiService::Ecs => "nextToken",
        };
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let result = self.call(service, operation, params.clone()).await?;
            match result.error.as_deref() {
                None => {}
                Some(code) if gone.contains(&code) => return Ok(None),
                Some(code) => bail!("{operation} failed with {code}: {}", result.body),
            }
            if let Some(page) = result.body.get(items).and_then(Value::as_array) {
                out.extend(page.iter().cloned());
            }
            match result.body.get(token_key).and_then(Value::as_str) {
                Some(token) if !token.is_empty() => params[token_key] = json!(token),
                _ => return Ok(Some(out)),
            }
        }
        bail!("{operation} did not stop paginating after {MAX_PAGES} pages")
    }

    fn has_ecs(&self) -> bool {
        self.target.has(Capability::Ecs)
    }

    /// The target's resources now. `everything`: all of them (to compare before and after an
    /// exclusive scenario, or to check a server started for one scenario is empty again);
    /// otherwise only what can belong to the scenario whose `${unique}` is `unique` — the
    /// namespaces, clusters and task definitions by name, and only inside its own clusters, so
    /// that cleanup on a shared account neither lists nor touches everyone's ECS services.
    pub async fn inventory(&self, everything: bool, unique: &str) -> anyhow::Result<Inventory> {
        use ApiService::{Ecs, Servicediscovery as Sd};
        let mut inventory = Inventory::default();
        for ns in self
            .list(Sd, "ListNamespaces", json!({}), "Namespaces")
            .await?
        {
            inventory
                .namespaces
                .push((text(&ns, "Id"), text(&ns, "Name")));
        }
        if everything {
            for service in self.list(Sd, "ListServices", json!({}), "Services").await? {
                inventory
                    .services
                    .push((text(&service, "Id"), text(&service, "Name")));
            }
        }
        if !self.has_ecs() {
            return Ok(inventory);
        }
        let listed: Vec<String> = self
            .list(Ecs, "ListClusters", json!({}), "clusterArns")
            .await?
            .iter()
            .filter_map(|arn| arn.as_str().map(str::to_owned))
            .collect();
        // Some implementations (moto) list deleted clusters too: only ACTIVE ones count.
        let mut active = Vec::new();
        for chunk in listed.chunks(100) {
            let body = self
                .ok(Ecs, "DescribeClusters", json!({"clusters": chunk}))
                .await?;
            for cluster in body
                .get("clusters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if text(cluster, "status") == "ACTIVE" {
                    active.push(text(cluster, "clusterArn"));
                }
            }
        }
        for arn in active {
            let name = arn.rsplit('/').next().unwrap_or_default().to_owned();
            if everything || owns(unique, &name) {
                let (Some(services), Some(tasks)) = (
                    self.in_cluster(&arn, "ListServices", "serviceArns").await?,
                    self.in_cluster(&arn, "ListTasks", "taskArns").await?,
                ) else {
                    continue;
                };
                inventory.ecs_services.extend(services);
                inventory.tasks.extend(tasks);
            }
            inventory.clusters.push((arn, name));
        }
        for arn in self
            .list(Ecs, "ListTaskDefinitions", json!({}), "taskDefinitionArns")
            .await?
        {
            inventory
                .task_definitions
                .push(arn.as_str().unwrap_or_default().to_owned());
        }
        Ok(inventory)
    }

    /// (cluster, arn) of each item a listing of one ECS cluster returns; None when the cluster
    /// was deleted meanwhile (by the scenario it belongs to).
    async fn in_cluster(
        &self,
        cluster: &str,
        operation: &str,
        items: &str,
    ) -> anyhow::Result<Option<Vec<(String, String)>>> {
        let params = json!({"cluster": cluster});
        let found = self
            .list_unless(
                ApiService::Ecs,
                operation,
                params,
                items,
                &["ClusterNotFoundException"],
            )
            .await?;
        Ok(found.map(|items| {
            items
                .iter()
                .map(|item| {
                    (
                        cluster.to_owned(),
                        item.as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        }))
    }

    /// What of `now` belongs to the scenario whose `${unique}` is `unique`; `before` is the
    /// inventory taken before an exclusive scenario started.
    pub async fn owned(
        &self,
        now: &Inventory,
        unique: &str,
        before: Option<&Inventory>,
    ) -> anyhow::Result<Inventory> {
        let new = before.map(|before| now.since(before)).unwrap_or_default();
        let mine = |name: &str| owns(unique, name);
        let mut owned = Inventory {
            namespaces: now
                .namespaces
                .iter()
                .filter(|ns| mine(&ns.1) || new.namespaces.contains(ns))
                .cloned()
                .collect(),
            ..Inventory::default()
        };
        // The services of owned namespaces (a service summary does not name its namespace).
        let mut services: BTreeSet<(String, String)> = new.services.iter().cloned().collect();
        services.extend(now.services.iter().filter(|(_, name)| mine(name)).cloned());
        // Not every implementation honours the NAMESPACE_ID filter (moto ignores it): each service
        // listed is checked with GetService before it counts as the namespace's.
        let owned_ids: BTreeSet<&str> = owned.namespaces.iter().map(|n| n.0.as_str()).collect();
        for (id, _) in &owned.namespaces {
            let filter =
                json!({"Filters": [{"Name": "NAMESPACE_ID", "Values": [id], "Condition": "EQ"}]});
            for service in self
                .list(
                    ApiService::Servicediscovery,
                    "ListServices",
                    filter,
                    "Services",
                )
                .await?
            {
                let service_id = text(&service, "Id");
                let detail = self
                    .call(
                        ApiService::Servicediscovery,
                        "GetService",
                        json!({"Id": service_id}),
                    )
                    .await?;
                let namespace = detail
                    .body
                    .pointer("/Service/NamespaceId")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if owned_ids.contains(namespace) {
                    services.insert((service_id, text(&service, "Name")));
                }
            }
        }
        owned.services = services.into_iter().collect();
        owned.clusters = now
            .clusters
            .iter()
            .filter(|(arn, name)| mine(name) || new.clusters.iter().any(|c| &c.0 == arn))
            .cloned()
            .collect();
        let in_owned_cluster = |cluster: &str| owned.clusters.iter().any(|c| c.0 == cluster);
        owned.ecs_services = now
            .ecs_services
            .iter()
            .filter(|(cluster, arn)| {
                in_owned_cluster(cluster)
                    || mine(arn)
                    || new.ecs_services.iter().any(|s| &s.1 == arn)
            })
            .cloned()
            .collect();
        owned.tasks = now
            .tasks
            .iter()
            // Only in the scenario's clusters: a new task elsewhere may be a bystander's
            // replacement task (the tasks of the scenario's ECS services stop with them).
            .filter(|(cluster, _)| in_owned_cluster(cluster))
            .cloned()
            .collect();
        owned.task_definitions = now
            .task_definitions
            .iter()
            .filter(|arn| mine(family(arn)) || new.task_definitions.contains(arn))
            .cloned()
            .collect();
        Ok(owned)
    }

    /// Removes `owned`, leaves first.
    pub async fn remove(&self, owned: &Inventory) -> anyhow::Result<()> {
        use ApiService::{Ecs, Servicediscovery as Sd};
        for (cluster, service) in &owned.ecs_services {
            // Scaling to 0 first is what AWS asks for without `force`; an error (an
            // implementation without UpdateService) leaves it to the forced delete.
            self.call(
                Ecs,
                "UpdateService",
                json!({"cluster": cluster, "service": service, "desiredCount": 0}),
            )
            .await?;
            let result = self
                .call(
                    Ecs,
                    "DeleteService",
                    json!({"cluster": cluster, "service": service, "force": true}),
                )
                .await?;
            tolerate(
                &result,
                "DeleteService",
                &["ServiceNotActiveException", "ServiceNotFoundException"],
            )?;
        }
        // The tasks the scenario started with RunTask (its services' tasks stop with them).
        for (cluster, task) in &owned.tasks {
            let result = self
                .call(
                    Ecs,
                    "StopTask",
                    json!({"cluster": cluster, "task": task, "reason": "conformance cleanup"}),
                )
                .await?;
            tolerate(&result, "StopTask", &["InvalidParameterException"])?;
        }
        // A cluster with a task still stopping, or a service still draining, is refused a while.
        for (cluster, name) in &owned.clusters {
            self.retry(
                &format!("DeleteCluster {name}"),
                || async {
                    self.call(Ecs, "DeleteCluster", json!({"cluster": cluster}))
                        .await
                },
                &[
                    "ClusterContainsTasksException",
                    "ClusterContainsServicesException",
                    "UpdateInProgressException",
                ],
                &["ClusterNotFoundException"],
            )
            .await?;
        }
        for arn in &owned.task_definitions {
            let result = self
                .call(
                    Ecs,
                    "DeregisterTaskDefinition",
                    json!({"taskDefinition": arn}),
                )
                .await?;
            tolerate(
                &result,
                "DeregisterTaskDefinition",
                &["InvalidParameterException", "ClientException"],
            )?;
        }
        for (id, name) in &owned.services {
            self.delete_service(id, name).await?;
        }
        for (id, name) in &owned.namespaces {
            let result = self
                .retry(
                    &format!("DeleteNamespace {name}"),
                    || async { self.call(Sd, "DeleteNamespace", json!({"Id": id})).await },
                    &["ResourceInUse", "DuplicateRequest"],
                    &["NamespaceNotFound"],
                )
                .await?;
            if let Some(operation) = result.and_then(|body| {
                body.get("OperationId")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }) {
                self.wait_operation(&operation)
                    .await
                    .with_context(|| format!("DeleteNamespace {name}"))?;
            }
        }
        Ok(())
    }

    /// Deregisters the service's instances and deletes it. An instance can still be arriving (a
    /// registration the scenario started that completes later) or busy with an operation of its
    /// own (DuplicateRequest): while the service is in use, its instances are listed and
    /// deregistered again, up to `DEADLINE`.
    async fn delete_service(&self, id: &str, name: &str) -> anyhow::Result<()> {
        use ApiService::Servicediscovery as Sd;
        let attempt = || async {
            // Gone with its namespace meanwhile: nothing to deregister, and DeleteService says so.
            let instances = self
                .list_unless(
                    Sd,
                    "ListInstances",
                    json!({"ServiceId": id}),
                    "Instances",
                    &["ServiceNotFound"],
                )
                .await?
                .unwrap_or_default();
            for instance in instances {
                let result = self
                    .call(
                        Sd,
                        "DeregisterInstance",
                        json!({"ServiceId": id, "InstanceId": text(&instance, "Id")}),
                    )
                    .await?;
                tolerate(
                    &result,
                    "DeregisterInstance",
                    &["InstanceNotFound", "ServiceNotFound", "DuplicateRequest"],
                )?;
            }
            self.call(Sd, "DeleteService", json!({"Id": id})).await
        };
        self.retry(
            &format!("DeleteService {name}"),
            attempt,
            &["ResourceInUse"],
            &["ServiceNotFound"],
        )
        .await
        .map(|_| ())
    }

    /// Waits until the operation is no longer SUBMITTED or PENDING; an error if it FAILs.
    pub async fn wait_operation(&self, operation: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let body = self
                .ok(
                    ApiService::Servicediscovery,
                    "GetOperation",
                    json!({"OperationId": operation}),
                )
                .await?;
            match body.pointer("/Operation/Status").and_then(Value::as_str) {
                Some("SUCCESS") => return Ok(()),
                Some("FAIL") => bail!("operation {operation} failed: {body}"),
                _ if Instant::now() >= deadline => {
                    bail!("operation {operation} still not done after {DEADLINE:?}: {body}")
                }
                // Polling with a deadline: a short pause between attempts.
                _ => tokio::time::sleep(RETRY).await,
            }
        }
    }

    /// Calls `attempt` until it succeeds (its body), answers one of `gone` (None), or the
    /// deadline passes while it answers one of `busy`.
    async fn retry<F, Fut>(
        &self,
        what: &str,
        attempt: F,
        busy: &[&str],
        gone: &[&str],
    ) -> anyhow::Result<Option<Value>>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<ApiResult>>,
    {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let result = attempt().await?;
            match result.error.as_deref() {
                None => return Ok(Some(result.body)),
                Some(code) if gone.contains(&code) => return Ok(None),
                Some(code) if busy.contains(&code) && Instant::now() < deadline => {
                    // Polling with a deadline: a short pause between attempts.
                    tokio::time::sleep(RETRY).await;
                }
                Some(code) => bail!("{what} failed with {code}: {}", result.body),
            }
        }
    }
}

/// Success, or one of the error codes that mean there is nothing left to do.
fn tolerate(result: &ApiResult, operation: &str, codes: &[&str]) -> anyhow::Result<()> {
    match result.error.as_deref() {
        None => Ok(()),
        Some(code) if codes.contains(&code) => Ok(()),
        Some(code) => bail!("{operation} failed with {code}: {}", result.body),
    }
}

/// Whether `name` is one the scenario whose `${unique}` is `unique` gave.
fn owns(unique: &str, name: &str) -> bool {
    !unique.is_empty() && name.contains(unique)
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// `family` of `arn:aws:ecs:region:account:task-definition/family:revision`.
fn family(arn: &str) -> &str {
    let name = arn.rsplit('/').next().unwrap_or(arn);
    name.rsplit_once(':').map_or(name, |(family, _)| family)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_owned(), b.to_owned())
    }

    #[test]
    fn since_keeps_only_what_is_new() {
        let before = Inventory {
            namespaces: vec![pair("ns-1", "mine.local")],
            task_definitions: vec!["arn:td/web:1".to_owned()],
            ..Inventory::default()
        };
        let now = Inventory {
            namespaces: vec![pair("ns-1", "mine.local"), pair("ns-2", "app.local")],
            task_definitions: vec!["arn:td/web:1".to_owned(), "arn:td/web:2".to_owned()],
            ..Inventory::default()
        };
        let new = now.since(&before);
        assert_eq!(new.namespaces, vec![pair("ns-2", "app.local")]);
        assert_eq!(new.task_definitions, vec!["arn:td/web:2".to_owned()]);
        assert!(before.since(&now).is_empty());
    }

    #[test]
    fn families_come_from_task_definition_arns() {
        assert_eq!(
            family("arn:aws:ecs:us-east-1:123456789012:task-definition/web-abcdef:3"),
            "web-abcdef"
        );
        assert_eq!(family("web:1"), "web");
    }

    #[test]
    fn descriptions_name_what_is_left() {
        let left = Inventory {
            namespaces: (0..7)
                .map(|i| pair(&format!("ns-{i}"), &format!("n{i}.local")))
                .collect(),
            tasks: vec![pair("c", "arn:task/1")],
            ..Inventory::default()
        };
        assert_eq!(
            left.describe(),
            "Cloud Map namespaces: n0.local, n1.local, n2.local, n3.local, n4.local and 2 more; ECS tasks: arn:task/1"
        );
    }
}
