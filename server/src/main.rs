//! The `leasehold` binary: parse the command line, set up logging, run.

use anyhow::Context;
use clap::Parser;
use server::config::{Cli, Command, Config};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Logs go to stderr: stdout carries only what a script may read (dev's URLs).
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();

    match cli.command {
        Command::Serve(args) => {
            let config = Config::new(args.etcd.endpoints, &args.common).map_err(anyhow::Error::msg)?;
            let listener = TcpListener::bind(args.common.listen)
                .await
                .with_context(|| format!("cannot listen on {}", args.common.listen))?;
            let addr = listener.local_addr().context("listener has no address")?;
            tracing::info!(%addr, endpoints = ?config.etcd.endpoints, "serving");
            server::run(config, listener, server::shutdown_signal()).await?;
        }
        Command::Dev(args) => server::dev::run(args).await?,
        Command::Demo(args) => server::demo::run(args).await?,
    }
    Ok(())
}
