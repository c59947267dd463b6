//! CreateCluster, DescribeClusters, ListClusters, DeleteCluster.
//!
//! Differs from AWS: there are no container instances or capacity providers (the runtime is the
//! capacity), so `registeredContainerInstancesCount` is 0 and capacity-provider members are only
//! stored; `statistics` is empty. Deleting a cluster removes its runtime network.

use serde_json::{Value, json};

use super::common::{self, Ctx, check_name, check_tags, cluster_json, invalid};
use super::wire;
use crate::api::error::ApiError;
use crate::ecs::model::{ACTIVE, Cluster, INACTIVE};
use crate::ecs::store::EcsChange;
use crate::runtime::ClusterRef;

/// Idempotent: an ACTIVE cluster of the name is returned as it is; an INACTIVE one comes back.
pub async fn create_cluster(
    ctx: &Ctx<'_>,
    input: wire::CreateClusterInput,
) -> Result<Value, ApiError> {
    let name = input.cluster_name.unwrap_or_else(|| "default".to_owned());
    check_name("clusterName", &name)?;
    let tags = input.tags.unwrap_or_default();
    check_tags(&tags)?;
    let arn = ctx.arn(&format!("cluster/{name}"));
    let region = ctx.region.clone();
    ctx.ecs.store.write(|state| {
        if let Some(existing) = state.clusters.get(&arn).filter(|c| c.status == ACTIVE) {
            return Ok((
                json!({"cluster": cluster_json(state, existing, true)}),
                Vec::new(),
            ));
        }
        let cluster = Cluster {
            cluster_arn: arn.clone(),
            cluster_name: name.clone(),
            status: ACTIVE.to_owned(),
            settings: input
                .settings
                .unwrap_or_else(|| vec![json!({"name": "containerInsights", "value": "disabled"})]),
            configuration: input.configuration,
            capacity_providers: input.capacity_providers.unwrap_or_default(),
            default_capacity_provider_strategy: input
                .default_capacity_provider_strategy
                .unwrap_or_default(),
            region,
        };
        // An INACTIVE cluster has no live services or tasks, so the counts are all zero.
        let mut value = cluster_json(state, &cluster, false);
        value["tags"] = common::tags_json(&tags);
        let output = json!({"cluster": value});
        Ok((
            output,
            vec![
                EcsChange::PutCluster(cluster),
                EcsChange::PutTags(arn.clone(), tags),
            ],
        ))
    })
}

/// Unknown names are `failures` with reason MISSING, as in ECS.
pub async fn describe_clusters(
    ctx: &Ctx<'_>,
    input: wire::DescribeClustersInput,
) -> Result<Value, ApiError> {
    let names = input.clusters.unwrap_or_else(|| vec!["default".to_owned()]);
    if names.len() > 100 {
        return Err(invalid("clusters can name at most 100 clusters"));
    }
    let with_tags = common::includes(&input.include, "TAGS");
    Ok(ctx.ecs.store.read(|state| {
        let mut clusters = Vec::new();
        let mut failures = Vec::new();
        for name in &names {
            let arn = if name.starts_with("arn:") {
                name.clone()
            } else {
                ctx.arn(&format!("cluster/{name}"))
            };
            match state.clusters.get(&arn) {
                Some(cluster) => clusters.push(cluster_json(state, cluster, with_tags)),
                None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
            }
        }
        json!({"clusters": clusters, "failures": failures})
    }))
}

pub async fn list_clusters(ctx: &Ctx<'_>, input: wire::ListInput) -> Result<Value, ApiError> {
    let prefix = ctx.arn("cluster/");
    let arns: Vec<String> = ctx.ecs.store.read(|state| {
        state
            .clusters
            .values()
            .filter(|c| c.status == ACTIVE && c.cluster_arn.starts_with(&prefix))
            .map(|c| c.cluster_arn.clone())
            .collect()
    });
    let (page, next) = common::page(arns, input.next_token.as_deref(), input.max_results)?;
    Ok(json!({"clusterArns": page, "nextToken": next}))
}

/// Refused while the cluster has services that are not INACTIVE or tasks that are not STOPPED.
pub async fn delete_cluster(
    ctx: &Ctx<'_>,
    input: wire::ClusterRefInput,
) -> Result<Value, ApiError> {
    let value = input
        .cluster
        .ok_or_else(|| invalid("cluster is required"))?;
    let (output, cluster) = ctx.ecs.store.write(|state| {
        let cluster = common::cluster(ctx, state, Some(&value))?.clone();
        if state
            .services
            .values()
            .any(|s| s.cluster_arn == cluster.cluster_arn && s.status != INACTIVE)
        {
            return Err(ApiError::new(
                "ClusterContainsServicesException",
                "The Cluster cannot be deleted while Services are active.",
            ));
        }
        if state
            .tasks
            .values()
            .any(|t| t.wire.cluster_arn == cluster.cluster_arn && !t.wire.is_stopped())
        {
            return Err(ApiError::new(
                "ClusterContainsTasksException",
                "The Cluster cannot be deleted while Tasks are active.",
            ));
        }
        let mut deleted = cluster.clone();
        deleted.status = INACTIVE.to_owned();
        let output = json!({"cluster": cluster_json(state, &deleted, false)});
        Ok((
            (output, deleted.clone()),
            vec![EcsChange::PutCluster(deleted)],
        ))
    })?;
    ctx.ecs
        .remove_network(&ClusterRef {
            region: cluster.region,
            name: cluster.cluster_name,
        })
        .await;
    Ok(output)
}
