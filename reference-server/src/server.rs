//! `run` owns every task of the server: the API listener, the DNS server and the operation
//! runner. It takes already-bound listeners so tests can bind `127.0.0.1:0`, and stops
//! everything when `shutdown` is cancelled.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::config::{Config, DurabilityArg};
use crate::operations::{self, OperationQueue};
use crate::store::{Durability, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("serving the API failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Opens the store described by `config`.
pub fn open_store(config: &Config) -> Result<Store, StoreError> {
    let durability = match config.durability {
        DurabilityArg::Process => Durability::Process,
        DurabilityArg::Power => Durability::Power,
    };
    Store::open(config.state_dir().as_deref(), durability)
}

/// The sockets the server serves on, bound before `run` (port 0 works: read the addresses back).
#[derive(Debug)]
pub struct Listeners {
    pub api: TcpListener,
    pub dns: Option<crate::dns::Sockets>,
}

impl Listeners {
    /// Binds what `config` asks for.
    pub async fn bind(config: &Config) -> std::io::Result<Listeners> {
        let api = TcpListener::bind(config.listen).await?;
        let dns = match config.dns_config() {
            Some(dns) => Some(crate::dns::Sockets::bind(
                &config.dns_listen,
                dns.udp_workers,
            )?),
            None => None,
        };
        Ok(Listeners { api, dns })
    }
}

pub async fn run(
    listeners: Listeners,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let listener = listeners.api;
    let store = open_store(&config)?;
    let (queue, receiver) = OperationQueue::new();
    let metrics = Arc::new(api::metrics::Metrics::new(api::operation_names()));
    let mut tasks = JoinSet::new();
    let health = crate::health::start(
        &store,
        config.health_config(),
        Arc::clone(&metrics),
        &mut tasks,
        shutdown.clone(),
    );
    let state = Arc::new(AppState {
        store: store.clone(),
        config: config.api_config(),
        operations: queue,
        metrics,
        health,
    });
    if let (Some(sockets), Some(dns)) = (listeners.dns, config.dns_config()) {
        crate::dns::start(sockets, dns, &store, &mut tasks, shutdown.clone())?;
    }
    tasks.spawn(operations::prune(
        store.clone(),
        config.operation_retention,
        shutdown.clone(),
    ));
    tasks.spawn(operations::run(
        store,
        config.operation_delay,
        receiver,
        shutdown.clone(),
    ));
    let app = api::router(state);
    tracing::info!(address = %listener.local_addr()?, "Cloud Map API listening");
    let serve_shutdown = shutdown.clone();
    // Responses must not wait for the client's delayed ACK (Nagle): pipelined requests would
    // stall 40 ms each.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { serve_shutdown.cancelled().await })
        .await;
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    served?;
    Ok(())
}
