//! Integration tests: the real AWS SDK (and the real aws CLI) against the server over real
//! sockets. One binary; one module per area.

// A test crate: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fixtures;
mod harness;

mod admin;
mod cli;
mod crash;
mod discovery;
mod dns;
mod ecs;
mod health;
mod instances;
mod kubernetes;
mod namespaces;
mod operations;
mod protocol;
mod scheduler;
mod services;
mod tags;
