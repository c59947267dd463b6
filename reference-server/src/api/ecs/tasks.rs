//! RunTask, StopTask, ListTasks, DescribeTasks.
//!
//! Differs from AWS: tasks run on the server's runtime (Docker) rather than on container
//! instances or Fargate, so `containerInstanceArn` is absent and placement members are ignored;
//! `overrides` are stored but not applied; STOPPED tasks stay visible for an hour, as in ECS.
//! Standalone tasks (RunTask) are never registered in Cloud Map: `serviceRegistries` belongs to
//! services.

use serde_json::{Value, json};

use super::common::{self, Ctx, check_tags, invalid, task_json};
use super::wire;
use crate::api::error::ApiError;
use crate::ecs::model::{TaskState, status};
use crate::ecs::store::EcsChange;

pub async fn run_task(ctx: &Ctx<'_>, input: wire::RunTaskInput) -> Result<Value, ApiError> {
    let reference = input
        .task_definition
        .clone()
        .ok_or_else(|| invalid("taskDefinition is required"))?;
    let count = input.count.unwrap_or(1);
    if !(1..=10).contains(&count) {
        return Err(invalid(format!(
            "count must be between 1 and 10, got {count}"
        )));
    }
    let tags = input.tags.clone().unwrap_or_default();
    check_tags(&tags)?;
    let (output, arns) = ctx.ecs.store.write(|state| {
        let cluster = common::cluster(ctx, state, input.cluster.as_deref())?;
        let definition = common::task_definition(ctx, state, &reference)?;
        if definition.network_mode() == "awsvpc"
            && input
                .network_configuration
                .as_ref()
                .and_then(|n| n.get("awsvpcConfiguration"))
                .is_none()
        {
            return Err(invalid(
                "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
            ));
        }
        let mut tasks = Vec::new();
        let mut changes = Vec::new();
        let mut arns = Vec::new();
        for _ in 0..count {
            let mut record = crate::ecs::scheduler::new_task(
                ctx.ecs,
                cluster,
                definition,
                input
                    .group
                    .clone()
                    .unwrap_or_else(|| format!("family:{}", definition.family)),
                input.started_by.clone(),
                input.launch_type.clone().or_else(|| Some("EC2".to_owned())),
                TaskState::default(),
            );
            if let Some(overrides) = &input.overrides {
                record.wire.overrides = overrides.clone();
            }
            let mut value = task_json(state, &record, false);
            value["tags"] = common::tags_json(&tags);
            tasks.push(value);
            arns.push(record.wire.task_arn.clone());
            changes.push(EcsChange::PutTags(
                record.wire.task_arn.clone(),
                tags.clone(),
            ));
            changes.push(EcsChange::PutTask(record));
        }
        Ok(((json!({"tasks": tasks, "failures": []}), arns), changes))
    })?;
    for arn in arns {
        ctx.ecs.launch(arn);
    }
    Ok(output)
}

/// Sets desiredStatus STOPPED; the task's driver deregisters it and stops its containers. A
/// service replaces the task.
pub async fn stop_task(ctx: &Ctx<'_>, input: wire::StopTaskInput) -> Result<Value, ApiError> {
    let reference = input
        .task
        .clone()
        .ok_or_else(|| invalid("task is required"))?;
    let (output, arn) = ctx.ecs.store.write(|state| {
        let cluster = common::cluster(ctx, state, input.cluster.as_deref())?;
        let mut record = common::task(state, cluster, &reference)
            .ok_or_else(|| invalid("The referenced task was not found."))?
            .clone();
        let arn = record.wire.task_arn.clone();
        if record.wire.desired_status == status::STOPPED {
            return Ok((
                (json!({"task": task_json(state, &record, false)}), arn),
                Vec::new(),
            ));
        }
        record.wire.request_stop(
            "UserInitiated",
            input
                .reason
                .clone()
                .unwrap_or_else(|| "Task stopped by user".to_owned()),
        );
        let output = json!({"task": task_json(state, &record, false)});
        Ok(((output, arn), vec![EcsChange::PutTask(record)]))
    })?;
    ctx.ecs.wake_task(&arn);
    Ok(output)
}

pub async fn list_tasks(ctx: &Ctx<'_>, input: wire::ListTasksInput) -> Result<Value, ApiError> {
    let desired = input
        .desired_status
        .clone()
        .unwrap_or_else(|| status::RUNNING.to_owned());
    if ![status::RUNNING, status::PENDING, status::STOPPED].contains(&desired.as_str()) {
        return Err(invalid("desiredStatus must be RUNNING, PENDING or STOPPED"));
    }
    let arns = ctx.ecs.store.read(|state| {
        let cluster = common::cluster(ctx, state, input.cluster.as_deref())?;
        if input.container_instance.is_some() {
            // There are no container instances here.
            return Ok::<_, ApiError>(Vec::new());
        }
        let service_group = input.service_name.as_ref().map(|s| {
            let name = s.rsplit('/').next().unwrap_or(s);
            format!("service:{name}")
        });
        Ok(state
            .tasks
            .values()
            .map(|t| &t.wire)
            .filter(|t| t.cluster_arn == cluster.cluster_arn)
            .filter(|t| match desired.as_str() {
                status::STOPPED => t.desired_status == status::STOPPED,
                // PENDING and RUNNING both mean "meant to run" (desiredStatus is RUNNING).
                _ => t.desired_status == status::RUNNING,
            })
            .filter(|t| {
                input.family.as_ref().is_none_or(|family| {
                    state
                        .task_definitions
                        .get(&t.task_definition_arn)
                        .is_some_and(|d| &d.family == family)
                })
            })
            .filter(|t| service_group.as_ref().is_none_or(|g| &t.group == g))
            .filter(|t| {
                input
                    .started_by
                    .as_ref()
                    .is_none_or(|s| t.started_by.as_ref() == Some(s))
            })
            .filter(|t| {
                input
                    .launch_type
                    .as_ref()
                    .is_none_or(|l| t.launch_type.as_ref() == Some(l))
            })
            .map(|t| t.task_arn.clone())
            .collect())
    })?;
    let (page, next) = common::page(arns, input.next_token.as_deref(), input.max_results)?;
    Ok(json!({"taskArns": page, "nextToken": next}))
}

pub async fn describe_tasks(
    ctx: &Ctx<'_>,
    input: wire::DescribeTasksInput,
) -> Result<Value, ApiError> {
    let references = input
        .tasks
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("tasks is required"))?;
    if references.len() > 100 {
        return Err(invalid("tasks can name at most 100 tasks"));
    }
    let with_tags = common::includes(&input.include, "TAGS");
    ctx.ecs.store.read(|state| {
        let cluster = common::cluster(ctx, state, input.cluster.as_deref())?;
        let mut tasks = Vec::new();
        let mut failures = Vec::new();
        for reference in &references {
            match common::task(state, cluster, reference) {
                Some(task) => tasks.push(task_json(state, task, with_tags)),
                None => failures.push(json!({"arn": reference, "reason": "MISSING"})),
            }
        }
        Ok(json!({"tasks": tasks, "failures": failures}))
    })
}
