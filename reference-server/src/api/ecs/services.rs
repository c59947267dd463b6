//! CreateService, UpdateService, DescribeServices, ListServices, DeleteService.
//!
//! Differs from AWS: `loadBalancers` are stored and echoed but no load balancer exists here
//! (targets are never registered anywhere); the DAEMON strategy, capacity providers, task sets,
//! Service Connect and the deployment circuit breaker are not served; `desiredCount` defaults to
//! 0 when omitted; repeated launch failures back off 1 s, 2 s, 4 s … up to `--ecs-max-backoff`
//! (ECS's throttle reaches 15 minutes).

use serde_json::{Value, json};

use super::common::{self, Ctx, check_name, check_tags, invalid, service_json, service_not_found};
use super::wire;
use crate::api::error::ApiError;
use crate::ecs::model::{
    self, ACTIVE, DRAINING, Deployment, EcsService, INACTIVE, ServiceRegistry, TaskDefinition,
};
use crate::ecs::store::EcsChange;

fn not_active() -> ApiError {
    ApiError::new("ServiceNotActiveException", "Service was not ACTIVE.")
}

/// ECS's quota of tasks per service.
const MAX_DESIRED: u32 = 5000;

fn registries(
    input: Option<&[wire::ServiceRegistryInput]>,
) -> Result<Option<Vec<ServiceRegistry>>, ApiError> {
    input
        .map(|list| list.iter().map(|r| r.check().map_err(invalid)).collect())
        .transpose()
}

fn count(value: i64) -> Result<u32, ApiError> {
    u32::try_from(value)
        .ok()
        .filter(|n| *n <= MAX_DESIRED)
        .ok_or_else(|| {
            invalid(format!(
                "desiredCount must be between 0 and {MAX_DESIRED} (tasks per service), got {value}"
            ))
        })
}

/// minimumHealthyPercent is at most 100 and maximumPercent at least 100 (else a deployment could
/// never run its desired count).
fn check_deployment_configuration(
    c: &crate::ecs::model::DeploymentConfiguration,
) -> Result<(), ApiError> {
    {
        if c.minimum_healthy_percent > 100 {
            return Err(invalid(format!(
                "minimumHealthyPercent must be between 0 and 100, got {}",
                c.minimum_healthy_percent
            )));
        }
        if c.maximum_percent < 100 {
            return Err(invalid(format!(
                "maximumPercent must be at least 100, got {}",
                c.maximum_percent
            )));
        }
    }
    Ok(())
}

/// The checks that depend on the task definition: awsvpc needs a network configuration, FARGATE
/// needs awsvpc, and the registries must fit (spec §11.1).
fn check_fit(
    ctx: &Ctx<'_>,
    definition: &TaskDefinition,
    launch_type: Option<&str>,
    network: Option<&Value>,
    registries: &[ServiceRegistry],
) -> Result<(), ApiError> {
    if let Some(launch_type) = launch_type
        && !["EC2", "FARGATE", "EXTERNAL"].contains(&launch_type)
    {
        return Err(invalid(format!(
            "launchType must be EC2, FARGATE or EXTERNAL, got {launch_type}"
        )));
    }
    if launch_type == Some("FARGATE") && !definition.compatibilities.iter().any(|c| c == "FARGATE")
    {
        return Err(invalid(
            "Task definition does not support launch_type FARGATE.",
        ));
    }
    if definition.network_mode() == "awsvpc" {
        let subnets = network
            .and_then(|n| n.get("awsvpcConfiguration"))
            .and_then(|c| c.get("subnets"))
            .and_then(Value::as_array);
        if subnets.is_none_or(|s| s.is_empty()) {
            return Err(invalid(
                "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
            ));
        }
    }
    ctx.ecs
        .cloudmap
        .validate(&ctx.region, registries, definition)
        .map_err(invalid)
}

fn deployment(definition: &TaskDefinition, desired: u32, service: &EcsService) -> Deployment {
    let id = crate::ecs::ids::deployment_id();
    let now = model::now();
    Deployment {
        rollout_state_reason: format!("ECS deployment {id} in progress."),
        id,
        status: "PRIMARY".to_owned(),
        task_definition: definition.task_definition_arn.clone(),
        desired_count: desired,
        pending_count: 0,
        running_count: 0,
        failed_tasks: 0,
        created_at: now,
        updated_at: now,
        launch_type: service.launch_type.clone(),
        network_configuration: service.network_configuration.clone(),
        rollout_state: "IN_PROGRESS".to_owned(),
        service_registries: service.service_registries.clone(),
    }
}

pub async fn create_service(
    ctx: &Ctx<'_>,
    input: wire::CreateServiceInput,
) -> Result<Value, ApiError> {
    let name = input
        .service_name
        .clone()
        .ok_or_else(|| invalid("serviceName is required"))?;
    check_name("serviceName", &name)?;
    let reference = input
        .task_definition
        .clone()
        .ok_or_else(|| invalid("taskDefinition is required"))?;
    let desired = count(input.desired_count.unwrap_or(0))?;
    let deployment_configuration = input
        .deployment_configuration
        .as_ref()
        .map(|c| c.over(&Default::default()))
        .unwrap_or_default();
    check_deployment_configuration(&deployment_configuration)?;
    if let Some(strategy) = input.scheduling_strategy.as_deref()
        && strategy != "REPLICA"
    {
        return Err(invalid(format!(
            "schedulingStrategy {strategy} is not supported here (there are no container instances); use REPLICA"
        )));
    }
    let tags = input.tags.clone().unwrap_or_default();
    check_tags(&tags)?;
    let registries = registries(input.service_registries.as_deref())?.unwrap_or_default();
    let grace = input
        .health_check_grace_period_seconds
        .map(|g| {
            u32::try_from(g)
                .map_err(|_| invalid("healthCheckGracePeriodSeconds must be at least 0"))
        })
        .transpose()?;
    let output = ctx.ecs.store.write(|state| {
        let cluster = common::cluster(ctx, state, input.cluster.as_deref())?;
        let definition = common::task_definition(ctx, state, &reference)
            .map_err(|_| invalid("TaskDefinition not found."))?;
        check_fit(
            ctx,
            definition,
            input.launch_type.as_deref(),
            input.network_configuration.as_ref(),
            &registries,
        )?;
        let arn = format!(
            "{}/{name}",
            cluster.cluster_arn.replacen(":cluster/", ":service/", 1)
        );
        if state
            .services
            .get(&arn)
            .is_some_and(|s| s.status != INACTIVE)
        {
            return Err(invalid("Creation of service was not idempotent."));
        }
        let mut service = EcsService {
            service_arn: arn.clone(),
            service_name: name.clone(),
            cluster_arn: cluster.cluster_arn.clone(),
            status: ACTIVE.to_owned(),
            task_definition: definition.task_definition_arn.clone(),
            desired_count: desired,
            launch_type: input.launch_type.clone().or_else(|| Some("EC2".to_owned())),
            platform_version: input.platform_version.clone().or_else(|| {
                (input.launch_type.as_deref() == Some("FARGATE")).then(|| "LATEST".to_owned())
            }),
            service_registries: registries.clone(),
            load_balancers: input.load_balancers.clone().unwrap_or_default(),
            network_configuration: input.network_configuration.clone(),
            deployment_configuration: deployment_configuration.clone(),
            deployments: Vec::new(),
            events: Vec::new(),
            created_at: model::now(),
            scheduling_strategy: "REPLICA".to_owned(),
            health_check_grace_period_seconds: grace,
            enable_ecs_managed_tags: input.enable_ecs_managed_tags.unwrap_or(false),
            propagate_tags: input.propagate_tags.clone(),
            placement_constraints: input.placement_constraints.clone().unwrap_or_default(),
            placement_strategy: input.placement_strategy.clone().unwrap_or_default(),
            role_arn: input.role.clone(),
            enable_execute_command: input.enable_execute_command.unwrap_or(false),
            consecutive_failures: 0,
            next_launch_at: 0.0,
        };
        service
            .deployments
            .push(deployment(definition, desired, &service));
        let mut value = service_json(state, &service, false);
        value["tags"] = common::tags_json(&tags);
        Ok((
            json!({"service": value}),
            vec![
                EcsChange::PutService(service),
                EcsChange::PutTags(arn, tags),
            ],
        ))
    })?;
    ctx.ecs.wake_scheduler();
    Ok(output)
}

/// A new task definition, `forceNewDeployment`, or changed `serviceRegistries` or network
/// configuration start a new deployment (spec §11.1); `desiredCount` alone does not.
pub async fn update_service(
    ctx: &Ctx<'_>,
    input: wire::UpdateServiceInput,
) -> Result<Value, ApiError> {
    let reference = input
        .service
        .clone()
        .ok_or_else(|| invalid("service is required"))?;
    let desired = input.desired_count.map(count).transpose()?;
    let output = ctx.ecs.store.write(|state| {
        let cluster = common::cluster(ctx, state, input.cluster.as_deref())?;
        let mut service = common::service(state, cluster, &reference)
            .ok_or_else(service_not_found)?
            .clone();
        if service.status != ACTIVE {
            return Err(not_active());
        }
        let definition = match &input.task_definition {
            Some(reference) => common::task_definition(ctx, state, reference)
                .map_err(|_| invalid("TaskDefinition not found."))?,
            None => state
                .task_definitions
                .get(&service.task_definition)
                .ok_or_else(|| invalid("TaskDefinition not found."))?,
        };
        let registries = registries(input.service_registries.as_deref())?
            .unwrap_or_else(|| service.service_registries.clone());
        let network = input
            .network_configuration
            .clone()
            .or_else(|| service.network_configuration.clone());
        // Checked again only when what they depend on changes: a scale-down must work even after
        // the Cloud Map service was deleted.
        if definition.task_definition_arn != service.task_definition
            || registries != service.service_registries
            || network != service.network_configuration
        {
            check_fit(
                ctx,
                definition,
                service.launch_type.as_deref(),
                network.as_ref(),
                &registries,
            )?;
        }
        let redeploy = definition.task_definition_arn != service.task_definition
            || input.force_new_deployment == Some(true)
            || registries != service.service_registries
            || network != service.network_configuration;
        if let Some(desired) = desired {
            service.desired_count = desired;
        }
        if let Some(configuration) = &input.deployment_configuration {
            let merged = configuration.over(&service.deployment_configuration);
            check_deployment_configuration(&merged)?;
            service.deployment_configuration = merged;
        }
        if let Some(balancers) = &input.load_balancers {
            service.load_balancers = balancers.clone();
        }
        if let Some(grace) = input.health_check_grace_period_seconds {
            service.health_check_grace_period_seconds = u32::try_from(grace).ok();
        }
        if let Some(version) = &input.platform_version {
            service.platform_version = Some(version.clone());
        }
        if let Some(enable) = input.enable_execute_command {
            service.enable_execute_command = enable;
        }
        service.service_registries = registries;
        service.network_configuration = network;
        service.task_definition = definition.task_definition_arn.clone();
        if redeploy {
            for old in &mut service.deployments {
                old.status = ACTIVE.to_owned();
            }
            let new = deployment(definition, service.desired_count, &service);
            service.deployments.insert(0, new);
            // A new deployment may launch at once.
            service.consecutive_failures = 0;
            service.next_launch_at = 0.0;
        } else if let Some(primary) = service.deployments.first_mut() {
            primary.desired_count = service.desired_count;
            primary.updated_at = model::now();
            if desired.is_some() {
                primary.rollout_state = "IN_PROGRESS".to_owned();
            }
        }
        let value = service_json(state, &service, false);
        Ok((
            json!({"service": value}),
            vec![EcsChange::PutService(service)],
        ))
    })?;
    ctx.ecs.wake_scheduler();
    Ok(output)
}

pub async fn describe_services(
    ctx: &Ctx<'_>,
    input: wire::DescribeServicesInput,
) -> Result<Value, ApiError> {
    let names = input
        .services
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("services is required"))?;
    if names.len() > 10 {
        return Err(invalid("services can name at most 10 services"));
    }
    let with_tags = common::includes(&input.include, "TAGS");
    ctx.ecs.store.read(|state| {
        let cluster = common::cluster(ctx, state, input.cluster.as_deref())?;
        let mut services = Vec::new();
        let mut failures = Vec::new();
        for name in &names {
            match common::service(state, cluster, name) {
                Some(service) => services.push(service_json(state, service, with_tags)),
                None => {
                    let arn = if name.starts_with("arn:") {
                        name.clone()
                    } else {
                        format!(
                            "{}/{name}",
                            cluster.cluster_arn.replacen(":cluster/", ":service/", 1)
                        )
                    };
                    failures.push(json!({"arn": arn, "reason": "MISSING"}));
                }
            }
        }
        Ok(json!({"services": services, "failures": failures}))
    })
}

pub async fn list_services(
    ctx: &Ctx<'_>,
    input: wire::ListServicesInput,
) -> Result<Value, ApiError> {
    let arns = ctx.ecs.store.read(|state| {
        let cluster = common::cluster(ctx, state, input.cluster.as_deref())?;
        Ok::<_, ApiError>(
            state
                .services
                .values()
                .filter(|s| s.cluster_arn == cluster.cluster_arn && s.status != INACTIVE)
                .filter(|s| {
                    input
                        .launch_type
                        .as_ref()
                        .is_none_or(|l| s.launch_type.as_ref() == Some(l))
                })
                .filter(|s| {
                    input
                        .scheduling_strategy
                        .as_ref()
                        .is_none_or(|l| &s.scheduling_strategy == l)
                })
                .map(|s| s.service_arn.clone())
                .collect::<Vec<_>>(),
        )
    })?;
    let (page, next) = common::page(arns, input.next_token.as_deref(), input.max_results)?;
    Ok(json!({"serviceArns": page, "nextToken": next}))
}

/// The service goes DRAINING: its tasks are stopped (deregistered first), then it is INACTIVE.
/// Without `force`, a service must be scaled to 0 first. The Cloud Map service is left alone
/// (spec §11.3: ECS never deletes it).
pub async fn delete_service(
    ctx: &Ctx<'_>,
    input: wire::DeleteServiceInput,
) -> Result<Value, ApiError> {
    let reference = input
        .service
        .clone()
        .ok_or_else(|| invalid("service is required"))?;
    let output = ctx.ecs.store.write(|state| {
        let cluster = common::cluster(ctx, state, input.cluster.as_deref())?;
        let mut service = common::service(state, cluster, &reference)
            .ok_or_else(service_not_found)?
            .clone();
        if service.status == INACTIVE {
            return Err(not_active());
        }
        if service.desired_count > 0 && input.force != Some(true) {
            return Err(invalid(
                "The service cannot be stopped while it is scaled above 0.",
            ));
        }
        service.status = DRAINING.to_owned();
        service.desired_count = 0;
        for deployment in &mut service.deployments {
            deployment.desired_count = 0;
        }
        let value = service_json(state, &service, false);
        Ok((
            json!({"service": value}),
            vec![EcsChange::PutService(service)],
        ))
    })?;
    ctx.ecs.wake_scheduler();
    Ok(output)
}
