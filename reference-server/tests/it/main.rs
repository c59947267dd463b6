//! Integration tests: the real AWS SDK (and the real aws CLI) against the server over real
//! sockets. One binary; one module per area.

mod fixtures;
mod harness;

mod discovery;
mod instances;
mod namespaces;
mod operations;
mod protocol;
mod services;
mod tags;
