//! `run` owns every task of the server: the API listener, the DNS server (and its forwarder), the
//! operation runner and pruner, the health checker, and ECS (its scheduler, task drivers and
//! runtime, with CoreDNS sync on Kubernetes). It takes already-bound listeners so tests can bind
//! `127.0.0.1:0`, and stops everything when `shutdown` is cancelled (ECS stops its tasks first).

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::config::{Config, DurabilityArg, EcsRuntimeArg, K8sDnsModeArg};
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

/// A listener that could not be bound: which one, the address, the flag that sets it, and why.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen on {address} ({what}): {error}; is another server using it? Choose another \
     address with {flag} (e.g. {flag} 127.0.0.1:0 for any free port){}",
    if *flag == "--dns-listen" { ", or serve no DNS with --no-dns" } else { "" }
)]
pub struct BindError {
    pub what: &'static str,
    pub flag: &'static str,
    pub address: std::net::SocketAddr,
    /// Said in the message (not a `source`, which error reports would print a second time).
    pub error: std::io::Error,
}

impl Listeners {
    /// Binds what `config` asks for.
    pub async fn bind(config: &Config) -> Result<Listeners, BindError> {
        let api = TcpListener::bind(config.listen)
            .await
            .map_err(|source| BindError {
                what: "the API",
                flag: "--listen",
                address: config.listen,
                error: source,
            })?;
        let dns = match config.dns_config() {
            Some(dns) => Some(
                crate::dns::Sockets::bind(&config.dns_listen, dns.udp_workers).map_err(
                    |failed| BindError {
                        what: "DNS",
                        flag: "--dns-listen",
                        address: failed.address,
                        error: failed.source,
                    },
                )?,
            ),
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
    run_with_runtime(listeners, config, shutdown, None).await
}

/// `run`, with ECS tasks on `runtime` instead of the one `--ecs-runtime` names (embedding, and
/// the scheduler tests' scripted runtime).
pub async fn run_with_runtime(
    listeners: Listeners,
    config: Config,
    shutdown: CancellationToken,
    runtime: Option<Arc<dyn crate::runtime::TaskRuntime>>,
) -> Result<(), ServerError> {
    let listener = listeners.api;
    // One server per data directory, for as long as this one runs.
    let _lock = match config.state_dir() {
        Some(dir) => Some(crate::store::DataDirLock::acquire(&dir)?),
        None => None,
    };
    let store = open_store(&config)?;
    // Health, DNS and operations outlive the API: ECS deregisters its tasks (Cloud Map
    // operations) while stopping, so they stop only after ECS has.
    let core = CancellationToken::new();
    let (queue, receiver) = OperationQueue::new(config.operation_delay);
    let metrics = Arc::new(api::metrics::Metrics::new(api::operation_names()));
    let mut tasks = JoinSet::new();
    let health = crate::health::start(
        &store,
        config.health_config(),
        Arc::clone(&metrics),
        &mut tasks,
        core.clone(),
    );
    let mut state = AppState {
        store: store.clone(),
        config: config.api_config(),
        operations: queue,
        metrics,
        health,
        ecs: None,
    };
    let mut dns_listeners: Option<Arc<dyn crate::ecs::DnsListeners>> = None;
    if let (Some(sockets), Some(dns)) = (listeners.dns, config.dns_config()) {
        let extra = crate::dns::start(sockets, dns, &store, &mut tasks, core.clone())?;
        dns_listeners = Some(extra);
    }
    let ecs = start_ecs(
        &config,
        state.clone(),
        dns_listeners,
        runtime,
        &mut tasks,
        core.clone(),
    )
    .await?;
    state.ecs = Some(Arc::clone(&ecs));
    let state = Arc::new(state);
    tasks.spawn(operations::prune(
        store.clone(),
        config.operation_retention,
        core.clone(),
    ));
    tasks.spawn(operations::run(
        store,
        config.operation_delay,
        receiver,
        core.clone(),
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
    ecs.stop().await;
    core.cancel();
    while tasks.join_next().await.is_some() {}
    served?;
    Ok(())
}

/// Opens the ECS state, connects the task runtime (or explains why there is none) and resumes
/// the tasks of an earlier run.
async fn start_ecs(
    config: &Config,
    cloudmap_state: AppState,
    dns: Option<Arc<dyn crate::ecs::DnsListeners>>,
    injected: Option<Arc<dyn crate::runtime::TaskRuntime>>,
    tasks: &mut JoinSet<()>,
    shutdown: CancellationToken,
) -> Result<Arc<crate::ecs::Ecs>, ServerError> {
    let durability = match config.durability {
        DurabilityArg::Process => Durability::Process,
        DurabilityArg::Power => Durability::Power,
    };
    let store = crate::ecs::store::EcsStore::open(config.state_dir().as_deref(), durability)?;
    let owner = store.read(|s| s.owner.clone());
    let runtime: Arc<dyn crate::runtime::TaskRuntime> = match (injected, config.ecs_runtime) {
        (Some(runtime), _) => runtime,
        (None, runtime) => match runtime {
            EcsRuntimeArg::None => Arc::new(crate::runtime::Unavailable {
                reason: "no task runtime is configured (--ecs-runtime none)".to_owned(),
            }),
            EcsRuntimeArg::Kubernetes => {
                let mode = match config.k8s_dns_mode {
                    K8sDnsModeArg::Forward => {
                        crate::runtime::kubernetes::DnsMode::Forward(config.k8s_dns_forward)
                    }
                    K8sDnsModeArg::Rewrite => crate::runtime::kubernetes::DnsMode::Rewrite,
                };
                match crate::runtime::kubernetes::KubernetesRuntime::connect(owner, mode.clone())
                    .await
                {
                    Ok(kubernetes) => {
                        tracing::info!(?mode, "ECS tasks run on Kubernetes");
                        tasks.spawn(crate::runtime::kubernetes::coredns::sync(
                            kubernetes.client(),
                            mode,
                            cloudmap_state.store.clone(),
                            shutdown,
                        ));
                        Arc::new(kubernetes)
                    }
                    Err(error) => {
                        tracing::warn!(%error, "no Kubernetes cluster: ECS tasks will stop with this reason");
                        Arc::new(crate::runtime::Unavailable { reason: error.0 })
                    }
                }
            }
            EcsRuntimeArg::Docker => {
                match crate::runtime::docker::DockerRuntime::connect(owner, config.ecs_network_pool)
                    .await
                {
                    Ok(docker) => {
                        tracing::info!("ECS tasks run on Docker");
                        Arc::new(docker)
                    }
                    Err(error) => {
                        tracing::warn!(%error, "no container runtime: ECS tasks will stop with this reason");
                        Arc::new(crate::runtime::Unavailable { reason: error.0 })
                    }
                }
            }
        },
    };
    let ecs = crate::ecs::Ecs::new(
        store,
        runtime,
        config.ecs_config(),
        crate::ecs::cloudmap::CloudMap::new(cloudmap_state),
        dns,
    );
    ecs.start().await;
    Ok(ecs)
}
