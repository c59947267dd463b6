//! What the ECS operations share: the request context, ECS's error codes, name/ARN resolution,
//! pagination, and the JSON documents the API answers with.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::ecs::Ecs;
use crate::ecs::model::{
    ACTIVE, Cluster, EcsService, INACTIVE, Tag, TaskDefinition, TaskRecord, status,
};
use crate::ecs::store::EcsState;

pub struct Ctx<'a> {
    pub ecs: &'a Arc<Ecs>,
    pub region: String,
}

impl Ctx<'_> {
    pub fn arn(&self, resource: &str) -> String {
        self.ecs.arn(&self.region, resource)
    }
}

pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidParameterException", message)
}

pub fn client(message: impl Into<String>) -> ApiError {
    ApiError::new("ClientException", message)
}

pub fn cluster_not_found() -> ApiError {
    ApiError::new("ClusterNotFoundException", "Cluster not found.")
}

pub fn service_not_found() -> ApiError {
    ApiError::new("ServiceNotFoundException", "Service not found.")
}

/// ECS names: up to 255 letters, digits, hyphens and underscores.
pub fn check_name(member: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty()
        || name.len() > 255
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(format!(
            "{member} can have up to 255 characters: letters (uppercase and lowercase), numbers, hyphens and underscores; got {name:?}"
        )));
    }
    Ok(())
}

/// The last path segment of an ARN, or the value itself when it is a name.
fn name_of(value: &str) -> &str {
    if value.starts_with("arn:") {
        value.rsplit('/').next().unwrap_or(value)
    } else {
        value
    }
}

/// The ACTIVE cluster named by name or ARN (default: `default`).
pub fn cluster<'s>(
    ctx: &Ctx<'_>,
    state: &'s EcsState,
    value: Option<&str>,
) -> Result<&'s Cluster, ApiError> {
    let name = name_of(value.unwrap_or("default"));
    let arn = ctx.arn(&format!("cluster/{name}"));
    if value.is_some_and(|v| v.starts_with("arn:") && v != arn) {
        return Err(cluster_not_found());
    }
    state
        .clusters
        .get(&arn)
        .filter(|c| c.status == ACTIVE)
        .ok_or_else(cluster_not_found)
}

/// A task definition by `family` (latest ACTIVE revision), `family:revision` or ARN.
pub fn task_definition<'s>(
    ctx: &Ctx<'_>,
    state: &'s EcsState,
    value: &str,
) -> Result<&'s TaskDefinition, ApiError> {
    let unable = || client("Unable to describe task definition.");
    let reference = if value.starts_with("arn:") {
        value
            .strip_prefix(&ctx.arn("task-definition/"))
            .ok_or_else(unable)?
    } else {
        value
    };
    match reference.split_once(':') {
        Some((family, revision)) => {
            revision.parse::<u32>().map_err(|_| unable())?;
            state
                .task_definitions
                .get(&ctx.arn(&format!("task-definition/{family}:{revision}")))
                .ok_or_else(unable)
        }
        None => state
            .task_definitions
            .values()
            .filter(|d| {
                d.family == reference
                    && d.status == ACTIVE
                    && d.task_definition_arn
                        .starts_with(&ctx.arn("task-definition/"))
            })
            .max_by_key(|d| d.revision)
            .ok_or_else(unable),
    }
}

/// A service of `cluster` by name or ARN, in any status.
pub fn service<'s>(state: &'s EcsState, cluster: &Cluster, value: &str) -> Option<&'s EcsService> {
    let name = name_of(value);
    let arn = format!(
        "{}/{name}",
        cluster.cluster_arn.replacen(":cluster/", ":service/", 1)
    );
    state.services.get(&arn)
}

/// A task of `cluster` by id or ARN.
pub fn task<'s>(state: &'s EcsState, cluster: &Cluster, value: &str) -> Option<&'s TaskRecord> {
    let id = name_of(value);
    let arn = format!(
        "{}/{id}",
        cluster.cluster_arn.replacen(":cluster/", ":task/", 1)
    );
    state.tasks.get(&arn)
}

/// One page of `items` after `next_token` (the last item of the previous page).
pub fn page(
    items: Vec<String>,
    next_token: Option<&str>,
    max_results: Option<i64>,
) -> Result<(Vec<String>, Option<String>), ApiError> {
    let max = match max_results {
        None => 100,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(n) => {
            return Err(invalid(format!(
                "maxResults must be between 1 and 100, got {n}"
            )));
        }
    };
    let start = match next_token {
        None | Some("") => 0,
        Some(token) => items
            .iter()
            .position(|item| item.as_str() > token)
            .unwrap_or(items.len()),
    };
    let page: Vec<String> = items.iter().skip(start).take(max).cloned().collect();
    let next = (start + page.len() < items.len())
        .then(|| page.last().cloned())
        .flatten();
    Ok((page, next))
}

pub fn tags_json(tags: &[Tag]) -> Value {
    serde_json::to_value(tags).unwrap_or(Value::Array(Vec::new()))
}

pub fn includes(include: &Option<Vec<String>>, what: &str) -> bool {
    include
        .as_ref()
        .is_some_and(|list| list.iter().any(|i| i == what))
}

pub fn cluster_json(state: &EcsState, cluster: &Cluster, with_tags: bool) -> Value {
    let tasks = state
        .tasks
        .values()
        .filter(|t| t.wire.cluster_arn == cluster.cluster_arn && !t.wire.is_stopped());
    let (mut running, mut pending) = (0, 0);
    for task in tasks {
        if task.wire.last_status == status::RUNNING {
            running += 1;
        } else {
            pending += 1;
        }
    }
    let services = state
        .services
        .values()
        .filter(|s| s.cluster_arn == cluster.cluster_arn && s.status != INACTIVE)
        .count();
    let mut value = json!({
        "clusterArn": cluster.cluster_arn,
        "clusterName": cluster.cluster_name,
        "status": cluster.status,
        "registeredContainerInstancesCount": 0,
        "runningTasksCount": running,
        "pendingTasksCount": pending,
        "activeServicesCount": services,
        "statistics": [],
        "settings": cluster.settings,
        "capacityProviders": cluster.capacity_providers,
        "defaultCapacityProviderStrategy": cluster.default_capacity_provider_strategy,
    });
    if let Some(configuration) = &cluster.configuration {
        value["configuration"] = configuration.clone();
    }
    if with_tags {
        value["tags"] = tags_json(&state.tags_of(&cluster.cluster_arn));
    }
    value
}

pub fn task_definition_json(definition: &TaskDefinition) -> Value {
    serde_json::to_value(definition).unwrap_or(Value::Null)
}

pub fn service_json(state: &EcsState, service: &EcsService, with_tags: bool) -> Value {
    let mut value = serde_json::to_value(service).unwrap_or(Value::Null);
    let live: Vec<&TaskRecord> = state.live_tasks_of(&service.service_arn).collect();
    let running = live
        .iter()
        .filter(|t| t.wire.last_status == status::RUNNING)
        .count();
    let pending = live.len() - running;
    if let Some(object) = value.as_object_mut() {
        object.remove("consecutiveFailures");
        object.remove("nextLaunchAt");
        object.insert("runningCount".into(), json!(running));
        object.insert("pendingCount".into(), json!(pending));
        if let Some(deployments) = object.get_mut("deployments").and_then(Value::as_array_mut) {
            for deployment in deployments {
                if let Some(d) = deployment.as_object_mut() {
                    d.remove("serviceRegistries");
                }
            }
        }
        if with_tags {
            object.insert(
                "tags".into(),
                tags_json(&state.tags_of(&service.service_arn)),
            );
        }
    }
    value
}

pub fn task_json(state: &EcsState, task: &TaskRecord, with_tags: bool) -> Value {
    let mut value = serde_json::to_value(&task.wire).unwrap_or(Value::Null);
    if with_tags && let Some(object) = value.as_object_mut() {
        object.insert(
            "tags".into(),
            tags_json(&state.tags_of(&task.wire.task_arn)),
        );
    }
    value
}

/// ECS tags: at most 50, keys 1–128 and values 0–256 characters, no `aws:` prefix.
pub fn check_tags(tags: &[Tag]) -> Result<(), ApiError> {
    if tags.len() > 50 {
        return Err(invalid("A resource can have at most 50 tags"));
    }
    for tag in tags {
        if tag.key.is_empty() || tag.key.chars().count() > 128 || tag.value.chars().count() > 256 {
            return Err(invalid(format!(
                "Invalid tag {:?}: keys have 1 to 128 characters, values at most 256",
                tag.key
            )));
        }
        if tag.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid("Tag keys beginning with aws: are reserved"));
        }
    }
    Ok(())
}
