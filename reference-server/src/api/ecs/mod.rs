//! The ECS API subset (`AmazonEC2ContainerServiceV20141113`): one enum names the operations,
//! one exhaustive dispatch runs them. Operations are grouped by resource (`clusters.rs`,
//! `task_definitions.rs`, `services.rs`, `tasks.rs`, `tags.rs`), one function per operation named
//! after it; each file's doc lists how its operations differ from AWS.
//!
//! Errors use ECS's codes (`ClusterNotFoundException`, `ServiceNotFoundException`,
//! `InvalidParameterException`, `ClientException`, …) in the same `{"__type", "Message"}` body as
//! the Cloud Map API (ECS itself writes `message`; clients read either).

mod clusters;
mod common;
mod services;
mod tags;
mod task_definitions;
mod tasks;
pub mod wire;

use std::sync::Arc;

use common::Ctx;

use crate::api::error::ApiError;
use crate::ecs::Ecs;
use crate::model::Region;

pub const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113";

macro_rules! operations {
    ($($name:ident => $module:ident :: $function:ident),* $(,)?) => {
        /// Every ECS operation served, by its `X-Amz-Target` name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Op { $($name),* }

        impl Op {
            pub const ALL: &'static [Op] = &[$(Op::$name),*];

            pub fn name(self) -> &'static str {
                match self { $(Op::$name => stringify!($name)),* }
            }

            pub fn parse(name: &str) -> Option<Op> {
                Self::ALL.iter().copied().find(|op| op.name() == name)
            }
        }

        /// Parses the body into the operation's input, runs it and serialises its output.
        pub async fn dispatch(op: Op, ecs: &Arc<Ecs>, region: Region, body: &[u8]) -> Result<Vec<u8>, ApiError> {
            let ctx = Ctx { ecs, region: region.0 };
            let output = match op {
                $(Op::$name => $module::$function(&ctx, crate::api::cloudmap::parse(body)?).await?,)*
            };
            serde_json::to_vec(&output).map_err(|e| ApiError::internal(e.to_string()))
        }
    };
}

operations! {
    CreateCluster => clusters::create_cluster,
    DescribeClusters => clusters::describe_clusters,
    ListClusters => clusters::list_clusters,
    DeleteCluster => clusters::delete_cluster,
    RegisterTaskDefinition => task_definitions::register_task_definition,
    DescribeTaskDefinition => task_definitions::describe_task_definition,
    ListTaskDefinitions => task_definitions::list_task_definitions,
    ListTaskDefinitionFamilies => task_definitions::list_task_definition_families,
    DeregisterTaskDefinition => task_definitions::deregister_task_definition,
    CreateService => services::create_service,
    UpdateService => services::update_service,
    DescribeServices => services::describe_services,
    ListServices => services::list_services,
    DeleteService => services::delete_service,
    RunTask => tasks::run_task,
    StopTask => tasks::stop_task,
    ListTasks => tasks::list_tasks,
    DescribeTasks => tasks::describe_tasks,
    TagResource => tags::tag_resource,
    UntagResource => tags::untag_resource,
    ListTagsForResource => tags::list_tags_for_resource,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_routed_by_name() {
        assert_eq!(Op::ALL.len(), 21);
        for op in Op::ALL {
            assert_eq!(Op::parse(op.name()), Some(*op));
        }
        assert_eq!(Op::parse("CreateCapacityProvider"), None);
    }
}
