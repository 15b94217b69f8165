//! Command line and environment: `leasehold serve`, `leasehold dev`, `leasehold demo`.
//!
//! Every flag has a `LEASEHOLD_*` environment variable; scripts and monitoring
//! are written against these names, so they only ever gain members.
//!
//! - `cli.rs`: the clap command line ([`Cli`] and its argument groups): every
//!   flag's name, environment variable, default and help text.
//! - `duration.rs`: how durations are written, and [`MAX_DURATION`].
//! - `files.rs`: what the flags point at (certificates, keys, the users file,
//!   the etcd password), read and checked, and the flags that go together.
//! - `etcd.rs`: [`EtcdConfig`], how Leasehold talks to etcd.
//! - `error.rs`: [`ConfigError`], every way a configuration is refused.
//! - here: [`Config`] and [`DemoConfig`], what the server and the demo run
//!   with, built from the parsed flags.

mod cli;
mod duration;
mod error;
mod etcd;
mod files;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use self::cli::{
    AuthArg, Cli, Command, CommonArgs, CopyArgs, DemoArgs, DemoRates, DevArgs, Endpoints, EtcdAccess, ExportArgs,
    ImportArgs, ServeArgs,
};
pub use self::duration::MAX_DURATION;
pub use self::error::ConfigError;
pub use self::etcd::{EtcdConfig, EtcdTls, EtcdUser, Secret};
use crate::auth::AuthMode;
use crate::http::client::IpNet;
use crate::registry::layouts::Pattern;
use crate::site::Site;
pub use app::model::within_prefixes;

/// What `run` needs, whichever command built it.
#[derive(Debug, Clone)]
pub struct Config {
    pub etcd: EtcdConfig,
    /// Key prefixes watched; empty means everything.
    pub prefixes: Vec<String>,
    pub service_patterns: Vec<Pattern>,
    /// The site the browser runs: built in, or a folder (`--site-root`).
    pub site: Site,
    pub cluster_poll: Duration,
    pub lease_sample_rate: f64,
    pub lease_poll: Duration,
    pub event_history: usize,
    /// How the history is kept, and when expiries are a storm.
    pub history: crate::registry::HistoryConfig,
    /// Services `/metrics` names (`--metrics-services`).
    pub metrics_services: usize,
    /// No destructive route is served.
    pub read_only: bool,
    /// Where destructive actions are recorded, besides the log.
    pub audit_log: Option<PathBuf>,
    pub auth: AuthMode,
    /// How long a sign-in lasts (`--auth users`).
    pub session_ttl: Duration,
    /// HTTPS, from `--tls-cert` and `--tls-key`.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// Host names served under `--auth none` besides loopback names and IP
    /// addresses (lowercase; `.domain` for the names under it).
    pub allowed_hosts: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
}

impl Config {
    /// The configuration of `serve` and `dev` from their flags, with every
    /// file they name read and checked.
    pub fn new(endpoints: Vec<String>, common: &CommonArgs) -> Result<Self, ConfigError> {
        Ok(Config {
            etcd: EtcdConfig {
                user: common.etcd_user()?,
                tls: common.etcd_tls(&endpoints)?,
                quota_bytes: common.etcd_quota,
                ..EtcdConfig::new(endpoints)
            },
            prefixes: common.prefixes.clone(),
            service_patterns: common.service_patterns.clone(),
            site: Site::chosen(common.site_root.as_deref()),
            cluster_poll: common.cluster_poll,
            lease_sample_rate: common.lease_sample_rate,
            lease_poll: common.lease_poll,
            event_history: common.event_history,
            history: crate::registry::HistoryConfig {
                services: common.history_services,
                storm: crate::registry::StormRule {
                    window_seconds: common.storm_window.as_secs().max(1),
                    ratio: common.storm_ratio,
                    min: common.storm_min,
                },
            },
            metrics_services: common.metrics_services,
            read_only: common.read_only,
            audit_log: common.audit_log.clone(),
            auth: common.auth_mode()?,
            session_ttl: common.session_ttl,
            tls: common.https()?,
            allowed_hosts: common.allowed_hosts.clone(),
            trusted_proxies: common.trusted_proxies.clone(),
        })
    }

    /// Whether the configuration routes serve `key` (a key or a prefix):
    /// see [`within_prefixes`].
    pub fn in_scope(&self, key: &[u8]) -> bool {
        within_prefixes(&self.prefixes, key)
    }
}

/// What the demo workload needs, from `leasehold demo` or `leasehold dev`.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub etcd: EtcdConfig,
    pub services: usize,
    /// Instance arrivals and departures per minute.
    pub churn_per_minute: f64,
    pub ttl: Duration,
    pub lock_hold: Duration,
    pub leader_term: Duration,
    /// Where the real clients are installed (`--demo-clients`); `None`: off.
    pub clients: Option<std::path::PathBuf>,
}

impl DemoConfig {
    pub fn new(endpoints: Vec<String>, rates: &DemoRates) -> Self {
        DemoConfig {
            etcd: EtcdConfig::new(endpoints),
            services: rates.services,
            churn_per_minute: rates.churn,
            ttl: rates.ttl,
            lock_hold: rates.lock_hold,
            leader_term: rates.leader_term,
            clients: (rates.clients != "off").then(|| rates.clients.clone().into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_of_prefixes() {
        let watched = ["/a/".to_owned(), "cfg".to_owned()];
        assert!(within_prefixes(&watched, b"/a/x"));
        assert!(within_prefixes(&watched, b"/a/"));
        assert!(within_prefixes(&watched, b"cfg/y"));
        assert!(!within_prefixes(&watched, b"/a"), "wider than /a/");
        assert!(!within_prefixes(&watched, b""), "the whole keyspace");
        assert!(!within_prefixes(&watched, b"/b/x"));
        assert!(within_prefixes(&[], b""), "nothing given: everything");
    }
}
