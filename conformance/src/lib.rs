//! A scenario-driven conformance suite for AWS Cloud Map implementations.
//!
//! # Layout
//! - [`scenario`]: the YAML model (unknown fields rejected) and loading.
//! - [`target`]: what is under test — `reference` (our server, started per scenario),
//!   `endpoint` (any running implementation) or `k3s` (our server inside k3s, see [`k3s`]) — with
//!   the capabilities it declares.
//! - [`driver`]: AWS JSON over HTTP, the aws CLI, DNS, HTTP.
//! - [`cleanup`]: what a scenario created, found and removed after it.
//! - [`check`]: every assertion a check with a stable id; expectation leaves, snapshot diffs.
//! - [`runner`]: the plan of a scenario's checks; steps, `${var}` templating, captures, blocked
//!   steps, waits with deadlines.
//! - [`sigv4`]: request signing, so real AWS can be a target.
//! - [`redact`]: numbered references for ids, so snapshots compare across runs.
//! - [`suite`]: discovery of scenario files, per-target expectations by check id (the ratchet),
//!   verdicts, areas.
//! - [`report`]: JSON, Markdown (checks per area × target, then per scenario) and JUnit reports.
//!
//! The suite speaks only HTTP, DNS and the CLI: it knows nothing of any implementation's inside.

pub mod check;
pub mod cleanup;
pub mod driver;
pub mod k3s;
pub mod redact;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod sigv4;
pub mod suite;
pub mod target;
