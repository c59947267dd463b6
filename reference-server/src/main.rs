//! The `reference-server` binary: parse the configuration, set up logging, bind, run until
//! SIGINT or SIGTERM.

use anyhow::Context;
use clap::{CommandFactory, Parser};
use reference_server::config::Config;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if let Err(message) = config.validate() {
        Config::command()
            .error(clap::error::ErrorKind::ArgumentConflict, message)
            .exit();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log).context("invalid --log filter")?,
        )
        .with_target(false)
        .init();
    let listeners = reference_server::server::Listeners::bind(&config).await?;
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        signal.cancel();
    });
    match config.state_dir() {
        Some(dir) => tracing::info!(data_dir = %dir.display(), "durable state"),
        None => tracing::info!("ephemeral state (in memory)"),
    }
    reference_server::server::run(listeners, config, shutdown).await?;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
