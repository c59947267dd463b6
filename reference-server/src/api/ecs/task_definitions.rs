//! RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions,
//! ListTaskDefinitionFamilies, DeregisterTaskDefinition.
//!
//! Differs from AWS: members this server does not run (volumes, logConfiguration, secrets,
//! proxyConfiguration …) are stored and echoed but have no effect; `requiresAttributes` is not
//! computed; task definitions are never deleted (DeleteTaskDefinitions is not served).

use serde_json::{Map, Value, json};

use super::common::{self, Ctx, check_tags, client};
use super::wire;
use crate::api::error::ApiError;
use crate::ecs::model::{self, ACTIVE, INACTIVE, Tag, TaskDefinition};
use crate::ecs::store::EcsChange;

const NETWORK_MODES: &[&str] = &["bridge", "host", "awsvpc", "none"];
const COMPATIBILITIES: &[&str] = &["EC2", "FARGATE", "EXTERNAL"];

pub async fn register_task_definition(
    ctx: &Ctx<'_>,
    input: wire::RegisterTaskDefinitionInput,
) -> Result<Value, ApiError> {
    let mut document = input.document;
    let tags: Vec<Tag> = match document.remove("tags") {
        Some(value) => serde_json::from_value(value).map_err(|e| client(format!("tags: {e}")))?,
        None => Vec::new(),
    };
    check_tags(&tags)?;
    let family = document
        .get("family")
        .and_then(Value::as_str)
        .ok_or_else(|| client("Family is required."))?
        .to_owned();
    common::check_name("family", &family).map_err(|e| client(e.message))?;
    check_document(&document)?;
    let prefix = ctx.arn(&format!("task-definition/{family}:"));
    ctx.ecs.store.write(|state| {
        let revision = state
            .task_definitions
            .values()
            .filter(|d| d.task_definition_arn.starts_with(&prefix))
            .map(|d| d.revision)
            .max()
            .unwrap_or(0)
            + 1;
        let definition = build(document, format!("{prefix}{revision}"), revision)?;
        let output = json!({
            "taskDefinition": common::task_definition_json(&definition),
            "tags": common::tags_json(&tags),
        });
        let arn = definition.task_definition_arn.clone();
        Ok((
            output,
            vec![
                EcsChange::PutTaskDefinition(definition),
                EcsChange::PutTags(arn, tags),
            ],
        ))
    })
}

/// The checks ECS makes before accepting a task definition (`ClientException`).
fn check_document(document: &Map<String, Value>) -> Result<(), ApiError> {
    let containers = document
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .filter(|list| !list.is_empty())
        .ok_or_else(|| client("Container list cannot be empty."))?;
    let mode = document.get("networkMode").and_then(Value::as_str);
    if let Some(mode) = mode
        && !NETWORK_MODES.contains(&mode)
    {
        return Err(client(format!(
            "networkMode must be one of {NETWORK_MODES:?}, got {mode:?}"
        )));
    }
    let compatibilities: Vec<&str> = document
        .get("requiresCompatibilities")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for compatibility in &compatibilities {
        if !COMPATIBILITIES.contains(compatibility) {
            return Err(client(format!(
                "requiresCompatibilities must be among {COMPATIBILITIES:?}, got {compatibility:?}"
            )));
        }
    }
    if compatibilities.contains(&"FARGATE") {
        if mode != Some("awsvpc") {
            return Err(client("Fargate only supports network mode 'awsvpc'."));
        }
        if document.get("cpu").is_none() || document.get("memory").is_none() {
            return Err(client(
                "Fargate requires that 'cpu' and 'memory' be defined at the task level.",
            ));
        }
    }
    let mut names = Vec::new();
    let mut essential = false;
    for container in containers {
        let name = container
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| client("Container.name should not be null or empty."))?;
        common::check_name("Container.name", name).map_err(|e| client(e.message))?;
        if names.contains(&name) {
            return Err(client(format!(
                "Duplicate container name {name}: container names must be unique within a task definition."
            )));
        }
        names.push(name);
        container
            .get("image")
            .and_then(Value::as_str)
            .filter(|i| !i.is_empty())
            .ok_or_else(|| client("Container.image should not be null or empty."))?;
        essential |= container
            .get("essential")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        for mapping in container
            .get("portMappings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let port = mapping.get("containerPort").and_then(Value::as_u64);
            let host = mapping.get("hostPort").and_then(Value::as_u64);
            if port.is_none_or(|p| p == 0 || p > 65535) {
                return Err(client(format!(
                    "Container {name}: containerPort must be between 1 and 65535"
                )));
            }
            if mode == Some("awsvpc") && host.is_some_and(|h| Some(h) != port) {
                return Err(client(
                    "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
                ));
            }
        }
        if let Some(check) = container.get("healthCheck") {
            check_health(name, check)?;
        }
    }
    if !essential {
        return Err(client(
            "Task definition does not have any essential container.",
        ));
    }
    Ok(())
}

fn check_health(name: &str, check: &Value) -> Result<(), ApiError> {
    let command: Vec<&str> = check
        .get("command")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !matches!(command.first(), Some(&"CMD" | &"CMD-SHELL")) || command.len() < 2 {
        return Err(client(format!(
            "Container {name}: healthCheck.command must start with CMD or CMD-SHELL and name a command"
        )));
    }
    for (member, low, high) in [
        ("interval", 5, 300),
        ("timeout", 2, 60),
        ("retries", 1, 10),
        ("startPeriod", 0, 300),
    ] {
        if let Some(value) = check.get(member) {
            let number = value.as_u64().filter(|n| (low..=high).contains(n));
            if number.is_none() {
                return Err(client(format!(
                    "Container {name}: healthCheck.{member} must be between {low} and {high}, got {value}"
                )));
            }
        }
    }
    Ok(())
}

fn build(
    mut document: Map<String, Value>,
    arn: String,
    revision: u32,
) -> Result<TaskDefinition, ApiError> {
    let awsvpc = document.get("networkMode").and_then(Value::as_str) == Some("awsvpc");
    // In awsvpc mode a port mapping's host port is its container port.
    if awsvpc
        && let Some(containers) = document
            .get_mut("containerDefinitions")
            .and_then(Value::as_array_mut)
    {
        for mapping in containers
            .iter_mut()
            .filter_map(|c| c.get_mut("portMappings").and_then(Value::as_array_mut))
            .flatten()
        {
            if let Some(port) = mapping.get("containerPort").cloned() {
                mapping["hostPort"] = port;
            }
        }
    }
    let mut compatibilities = vec![json!("EC2")];
    if awsvpc && document.contains_key("cpu") && document.contains_key("memory") {
        compatibilities.push(json!("FARGATE"));
    }
    for (key, value) in [
        ("taskDefinitionArn", json!(arn)),
        ("revision", json!(revision)),
        ("status", json!(ACTIVE)),
        ("registeredAt", json!(model::now())),
        ("compatibilities", Value::Array(compatibilities)),
    ] {
        document.insert(key.to_owned(), value);
    }
    // cpu and memory are strings in answers even when given as numbers.
    for key in ["cpu", "memory"] {
        if let Some(Value::Number(n)) = document.get(key) {
            let text = n.to_string();
            document.insert(key.to_owned(), json!(text));
        }
    }
    serde_json::from_value(Value::Object(document))
        .map_err(|e| client(format!("The task definition is not valid: {e}")))
}

pub async fn describe_task_definition(
    ctx: &Ctx<'_>,
    input: wire::DescribeTaskDefinitionInput,
) -> Result<Value, ApiError> {
    let reference = input
        .task_definition
        .ok_or_else(|| client("taskDefinition is required"))?;
    ctx.ecs.store.read(|state| {
        let definition = common::task_definition(ctx, state, &reference)?;
        let mut output = json!({"taskDefinition": common::task_definition_json(definition)});
        if common::includes(&input.include, "TAGS") {
            output["tags"] = common::tags_json(&state.tags_of(&definition.task_definition_arn));
        }
        Ok(output)
    })
}

pub async fn list_task_definitions(
    ctx: &Ctx<'_>,
    input: wire::ListTaskDefinitionsInput,
) -> Result<Value, ApiError> {
    let status = input.status.unwrap_or_else(|| ACTIVE.to_owned());
    if status != ACTIVE && status != INACTIVE {
        return Err(common::invalid("status must be ACTIVE or INACTIVE"));
    }
    let descending = match input.sort.as_deref() {
        None | Some("ASC") => false,
        Some("DESC") => true,
        Some(other) => {
            return Err(common::invalid(format!(
                "sort must be ASC or DESC, got {other}"
            )));
        }
    };
    let prefix = ctx.arn("task-definition/");
    let mut definitions: Vec<(String, u32, String)> = ctx.ecs.store.read(|state| {
        state
            .task_definitions
            .values()
            .filter(|d| d.status == status && d.task_definition_arn.starts_with(&prefix))
            .filter(|d| {
                input
                    .family_prefix
                    .as_ref()
                    .is_none_or(|p| d.family.starts_with(p.as_str()))
            })
            .map(|d| (d.family.clone(), d.revision, d.task_definition_arn.clone()))
            .collect()
    });
    definitions.sort();
    if descending {
        definitions.reverse();
    }
    let arns: Vec<String> = definitions.into_iter().map(|(_, _, arn)| arn).collect();
    let (page, next) = page_in_order(arns, input.next_token.as_deref(), input.max_results)?;
    Ok(json!({"taskDefinitionArns": page, "nextToken": next}))
}

/// Pagination over a list in its own order: the token is the index of the next item.
fn page_in_order(
    items: Vec<String>,
    token: Option<&str>,
    max: Option<i64>,
) -> Result<(Vec<String>, Option<String>), ApiError> {
    let start = match token {
        None | Some("") => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| common::invalid("Invalid nextToken"))?,
    };
    let max = match max {
        None => 100,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(n) => {
            return Err(common::invalid(format!(
                "maxResults must be between 1 and 100, got {n}"
            )));
        }
    };
    let page: Vec<String> = items.iter().skip(start).take(max).cloned().collect();
    let next = (start + page.len() < items.len()).then(|| (start + page.len()).to_string());
    Ok((page, next))
}

pub async fn list_task_definition_families(
    ctx: &Ctx<'_>,
    input: wire::ListTaskDefinitionFamiliesInput,
) -> Result<Value, ApiError> {
    let status = input.status.unwrap_or_else(|| ACTIVE.to_owned());
    if !["ACTIVE", "INACTIVE", "ALL"].contains(&status.as_str()) {
        return Err(common::invalid("status must be ACTIVE, INACTIVE or ALL"));
    }
    let prefix = ctx.arn("task-definition/");
    let mut families: Vec<String> = ctx.ecs.store.read(|state| {
        let mut by_family: std::collections::BTreeMap<&str, bool> = Default::default();
        for d in state
            .task_definitions
            .values()
            .filter(|d| d.task_definition_arn.starts_with(&prefix))
        {
            *by_family.entry(d.family.as_str()).or_default() |= d.status == ACTIVE;
        }
        by_family
            .into_iter()
            .filter(|(_, active)| match status.as_str() {
                "ACTIVE" => *active,
                "INACTIVE" => !*active,
                _ => true,
            })
            .map(|(family, _)| family.to_owned())
            .collect()
    });
    if let Some(prefix) = &input.family_prefix {
        families.retain(|f| f.starts_with(prefix.as_str()));
    }
    let (page, next) = page_in_order(families, input.next_token.as_deref(), input.max_results)?;
    Ok(json!({"families": page, "nextToken": next}))
}

/// Needs `family:revision` (or the ARN). Running tasks and services keep running.
pub async fn deregister_task_definition(
    ctx: &Ctx<'_>,
    input: wire::DeregisterTaskDefinitionInput,
) -> Result<Value, ApiError> {
    let reference = input
        .task_definition
        .ok_or_else(|| client("taskDefinition is required"))?;
    if !reference.starts_with("arn:") && !reference.contains(':') {
        return Err(client(
            "The specified task definition identifier is invalid. Specify a valid revision.",
        ));
    }
    ctx.ecs.store.write(|state| {
        let mut definition = common::task_definition(ctx, state, &reference)?.clone();
        if definition.status != INACTIVE {
            definition.status = INACTIVE.to_owned();
            definition.deregistered_at = Some(model::now());
        }
        let output = json!({"taskDefinition": common::task_definition_json(&definition)});
        Ok((output, vec![EcsChange::PutTaskDefinition(definition)]))
    })
}
