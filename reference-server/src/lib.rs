//! A reference implementation of AWS Cloud Map service discovery.
//!
//! # Layout
//! - [`config`]: flags and environment.
//! - [`server`]: `run(listener, config, shutdown)` owns every task.
//! - [`model`]: domain types (ids, namespaces, services, instances, operations); no serde.
//! - [`store`]: the registry — in-memory indexes over a SQLite log, written by one thread with
//!   group commit; an acknowledged write is committed before its response leaves.
//! - [`api`]: the AWS JSON 1.1 front door; `api::cloudmap` has one file per operation and the
//!   only serde types (`wire.rs`).
//! - [`operations`]: runs asynchronous operations (SUBMITTED → PENDING → SUCCESS/FAIL).
//! - [`dns`]: the authoritative DNS server over an index that follows every commit.
//! - [`health`]: active HTTP/HTTPS/TCP probes and delayed custom health, writing status changes.
//! - [`ecs`]: the ECS subset — durable clusters, task definitions, services and tasks; the
//!   service scheduler and one driver per task, which registers tasks in Cloud Map.
//! - [`runtime`]: where tasks run (`TaskRuntime`): Docker containers, Kubernetes pods, or nothing
//!   (tasks stop, saying why).

pub mod api;
pub mod config;
pub mod dns;
pub mod ecs;
pub mod health;
pub mod model;
pub mod operations;
pub mod runtime;
pub mod server;
pub mod store;
