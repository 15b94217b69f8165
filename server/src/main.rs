//! The `leasehold` binary: parse the command line, set up logging, run.

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};
use server::config::{Cli, Command, Config};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = parse_command_line();
    // Logs go to stderr: stdout carries only what a script may read (dev's URLs).
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();

    match cli.command {
        Command::Serve(args) => {
            let config = Config::new(args.etcd.endpoints, &args.common)?;
            let listener = TcpListener::bind(args.common.listen)
                .await
                .with_context(|| format!("cannot listen on {}", args.common.listen))?;
            let addr = listener.local_addr().context("listener has no address")?;
            tracing::info!(%addr, endpoints = ?config.etcd.endpoints, site = %config.site.describe(), "serving");
            server::run(config, listener, server::shutdown_signal()).await?;
        }
        Command::Dev(args) => server::dev::run(args).await?,
        Command::Demo(args) => server::demo::run(args).await?,
        Command::HashPassword => hash_password()?,
        Command::Export(args) => server::transfer::export(args).await?,
        Command::Import(args) => server::transfer::import(args).await?,
        Command::Copy(args) => server::transfer::copy(args).await?,
    }
    Ok(())
}

/// The command line, with `--version` naming the version, the commit and the
/// build id of the site built in (the one the page checks against health).
fn parse_command_line() -> Cli {
    let site = server::site::Site::built_in();
    let version = format!(
        "{} (commit {}, site {})",
        env!("CARGO_PKG_VERSION"),
        if server::site::COMMIT.is_empty() {
            "unknown"
        } else {
            server::site::COMMIT
        },
        match &site {
            Some(site) => format!("built in, build {}", site.build_id()),
            None => "not built in: served from --site-root".to_owned(),
        }
    );
    // Parsed once per process: the text lives as long as it.
    let version: &'static str = Box::leak(version.into_boxed_str());
    let matches = Cli::command().version(version).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// `leasehold hash-password`: the password from stdin (typed without echo
/// on a terminal, or piped), its argon2id hash on stdout.
fn hash_password() -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if terminal {
        eprint!("Password (not shown): ");
    }
    let echo = if terminal { hide_input(&stdin) } else { None };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = echo {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &saved);
        eprintln!();
    }
    read.context("reading the password from stdin")?;
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    if password.is_empty() {
        anyhow::bail!(
            "no password on stdin: type one, or pipe it in (printf '%s' \"$PASSWORD\" | leasehold hash-password)"
        );
    }
    let hash = server::auth::hash_password(password).map_err(anyhow::Error::msg)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{hash}").context("writing the hash")?;
    Ok(())
}

/// Turns the terminal's echo off; returns the settings to restore.
fn hide_input(stdin: &std::io::Stdin) -> Option<nix::sys::termios::Termios> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let saved = tcgetattr(stdin).ok()?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(stdin, SetArg::TCSANOW, &quiet).ok()?;
    Some(saved)
}
