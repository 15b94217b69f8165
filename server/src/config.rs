//! Command line and environment: `leasehold serve`, `leasehold dev`, `leasehold demo`.
//!
//! Every flag has a `LEASEHOLD_*` environment variable; scripts and monitoring
//! are written against these names, so they only ever gain members.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::{AuthMode, Users};
use crate::http::client::IpNet;
use crate::http::host::parse_allowed_host;
use crate::registry::layouts::Pattern;

/// Leasehold: a live dashboard for etcd as a service registry.
#[derive(Debug, Parser)]
#[command(name = "leasehold", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard against an existing etcd cluster.
    Serve(ServeArgs),
    /// Start a private etcd on free loopback ports and serve the dashboard on it,
    /// with the demo workload running against it (unless --no-demo).
    Dev(DevArgs),
    /// Run the demo workload against an etcd: services of every registry layout
    /// with heartbeats and churn, lock contention and an election.
    Demo(DemoArgs),
    /// Read a password on stdin and print its argon2id hash (for --users-file)
    /// on the last line of stdout.
    HashPassword,
}

/// The etcd that `serve` and `demo` talk to.
#[derive(Debug, Clone, Args)]
pub struct Endpoints {
    /// etcd client endpoints, comma-separated.
    #[arg(
        long = "etcd",
        env = "LEASEHOLD_ETCD_ENDPOINTS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:2379"
    )]
    pub endpoints: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub etcd: Endpoints,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    /// Use this etcd instead of starting a private one (comma-separated endpoints).
    #[arg(long = "etcd", env = "LEASEHOLD_ETCD_ENDPOINTS", value_delimiter = ',')]
    pub etcd: Vec<String>,

    /// The etcd server binary started for the private cluster.
    #[arg(long, env = "LEASEHOLD_ETCD_BIN", default_value = "etcd")]
    pub etcd_bin: PathBuf,

    /// Do not run the demo workload on the private etcd: the registry starts
    /// empty. (An etcd named with --etcd never gets the demo.)
    #[arg(long, env = "LEASEHOLD_NO_DEMO")]
    pub no_demo: bool,

    #[command(flatten)]
    pub common: CommonArgs,

    // Last: its help heading applies to every flag after it.
    #[command(flatten)]
    pub demo: DemoRates,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub etcd: Endpoints,

    #[command(flatten)]
    pub demo: DemoRates,
}

/// How much the demo workload does.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Demo workload")]
pub struct DemoRates {
    /// Services the demo registers, spread over every built-in registry layout.
    #[arg(
        long = "demo-services",
        value_name = "N",
        env = "LEASEHOLD_DEMO_SERVICES",
        default_value_t = 30
    )]
    pub services: usize,

    /// Instance arrivals and departures per minute (0: none). About one
    /// departure in three is a crash: its lease expires instead of being revoked.
    #[arg(long = "demo-churn", value_name = "PER_MINUTE", env = "LEASEHOLD_DEMO_CHURN", default_value_t = 20.0, value_parser = parse_per_minute)]
    pub churn: f64,

    /// Lease TTL of demo instances, lock contenders and election candidates
    /// (rounded up to whole seconds); kept alive every third of it.
    #[arg(long = "demo-ttl", value_name = "DURATION", env = "LEASEHOLD_DEMO_TTL", default_value = "10s", value_parser = parse_duration)]
    pub ttl: Duration,

    /// How long a lock holder keeps a demo lock before handing it over (on average).
    #[arg(long = "demo-lock-hold", value_name = "DURATION", env = "LEASEHOLD_DEMO_LOCK_HOLD", default_value = "3s", value_parser = parse_duration)]
    pub lock_hold: Duration,

    /// How long the demo election's leader leads before resigning (on average).
    #[arg(long = "demo-leader-term", value_name = "DURATION", env = "LEASEHOLD_DEMO_LEADER_TERM", default_value = "30s", value_parser = parse_duration)]
    pub leader_term: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Address the dashboard listens on (port 0 picks a free port).
    #[arg(long, env = "LEASEHOLD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory holding the built site (the `pkg/` wasm, JS and CSS).
    /// Relative paths are taken from the working directory.
    #[arg(long, env = "LEASEHOLD_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Watch only keys under this prefix (repeatable; default: the whole keyspace).
    #[arg(long = "prefix", env = "LEASEHOLD_PREFIXES", value_delimiter = ',')]
    pub prefixes: Vec<String>,

    /// A registry layout of your own, e.g. '/services/{service}/{instance}'
    /// (repeatable; tried after the built-in layouts).
    #[arg(long = "service-pattern", env = "LEASEHOLD_SERVICE_PATTERNS", value_delimiter = ',')]
    pub service_patterns: Vec<Pattern>,

    /// How often members and their status are read.
    #[arg(long, env = "LEASEHOLD_CLUSTER_POLL", default_value = "2s", value_parser = parse_duration)]
    pub cluster_poll: Duration,

    /// Budget of lease TTL samples (etcd `TimeToLive` requests) per second.
    #[arg(long, env = "LEASEHOLD_LEASE_SAMPLE_RATE", default_value_t = 20.0, value_parser = parse_rate)]
    pub lease_sample_rate: f64,

    /// How often the list of leases (`LeaseLeases`) is read.
    #[arg(long, env = "LEASEHOLD_LEASE_POLL", default_value = "5s", value_parser = parse_duration)]
    pub lease_poll: Duration,
    /// Events kept in memory for the timeline and `GET /api/v1/events`.
    #[arg(long, env = "LEASEHOLD_EVENT_HISTORY", default_value_t = 10_000)]
    pub event_history: usize,

    /// etcd user to authenticate as (etcd's own users and roles). The password
    /// comes from LEASEHOLD_ETCD_PASSWORD or --etcd-password-file, never from a flag.
    #[arg(long, env = "LEASEHOLD_ETCD_USER")]
    pub etcd_user: Option<String>,

    /// A file holding the etcd user's password (one trailing newline is ignored).
    #[arg(long, env = "LEASEHOLD_ETCD_PASSWORD_FILE")]
    pub etcd_password_file: Option<PathBuf>,

    /// Append every destructive action, allowed or refused, to this file as
    /// one JSON line (who, from where, what, when, how it ended).
    #[arg(long, env = "LEASEHOLD_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,

    /// Offer no destructive action at all (no revoke, no break lock), whoever asks.
    #[arg(long, env = "LEASEHOLD_READ_ONLY")]
    pub read_only: bool,

    /// Who may use the dashboard: `none` (no login: only on a loopback address,
    /// or anywhere with --read-only) or `users` (sign in as a user of --users-file).
    #[arg(long, env = "LEASEHOLD_AUTH", value_enum, default_value_t = AuthArg::None)]
    pub auth: AuthArg,

    /// The users of `--auth users` (TOML: `[[users]]` with name, role =
    /// "viewer"|"operator", password_hash from `leasehold hash-password`).
    #[arg(long, env = "LEASEHOLD_USERS_FILE")]
    pub users_file: Option<PathBuf>,

    /// How long a sign-in lasts (e.g. 30m, 12h; at most 400 days, what
    /// browsers keep a cookie).
    #[arg(long, env = "LEASEHOLD_SESSION_TTL", default_value = "12h", value_parser = parse_duration)]
    pub session_ttl: Duration,

    /// Under --auth none, also serve this host name (repeatable; any port;
    /// `.example.com` for every name under it). Loopback names and IP
    /// addresses are always served; other names are refused against DNS rebinding.
    #[arg(long = "allowed-host", value_name = "NAME", env = "LEASEHOLD_ALLOWED_HOSTS", value_delimiter = ',', value_parser = parse_allowed_host)]
    pub allowed_hosts: Vec<String>,

    /// A reverse proxy in front (repeatable; an IP or a CIDR network): from
    /// it, the client is the rightmost address of X-Forwarded-For that is not
    /// a trusted proxy. From anyone else the header is ignored.
    #[arg(
        long = "trusted-proxy",
        value_name = "IP_OR_CIDR",
        env = "LEASEHOLD_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpNet>,

    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, env = "LEASEHOLD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "LEASEHOLD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Talk to etcd over TLS, trusting this CA (PEM); endpoints are then https://.
    #[arg(long, env = "LEASEHOLD_ETCD_CA")]
    pub etcd_ca: Option<PathBuf>,

    /// Client certificate for etcd's --client-cert-auth (PEM); needs --etcd-key and --etcd-ca.
    #[arg(long, env = "LEASEHOLD_ETCD_CERT", requires_all = ["etcd_key", "etcd_ca"])]
    pub etcd_cert: Option<PathBuf>,

    /// The private key of --etcd-cert (PEM).
    #[arg(long, env = "LEASEHOLD_ETCD_KEY", requires = "etcd_cert")]
    pub etcd_key: Option<PathBuf>,
}

/// `--auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    None,
    Users,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!("{s:?} is not a positive number of requests per second")),
    }
}

fn parse_per_minute(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        _ => Err(format!("{s:?} is not a number of events per minute (0 or more)")),
    }
}

/// The longest duration any flag takes: 400 days, what browsers keep a
/// cookie at most (so also `--session-ttl`'s limit). Longer ones are refused
/// rather than overflowing a clock later.
pub const MAX_DURATION: Duration = Duration::from_secs(400 * 24 * 3600);

/// Parses `500ms`, `2s`, `1m`, `12h` or a bare number of seconds, up to
/// [`MAX_DURATION`].
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 500ms, 2s, 1m or 12h"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("{s:?}: the unit must be ms, s, m or h")),
    };
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(format!("{s:?} must be positive"));
    }
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) if duration <= MAX_DURATION => Ok(duration),
        _ => Err(format!("{s:?} is too long: at most 400 days (9600h)")),
    }
}

/// Whether `key` (a key, or the prefix of a range of keys) is inside the
/// watched `prefixes` (none: every key is). The one rule for what the
/// configuration routes and the `kv:` topics serve: a prefix is inside when
/// it starts with a watched prefix, so a wider one (`/` when `/a/` is
/// watched) is not.
pub fn within_prefixes(prefixes: &[String], key: &[u8]) -> bool {
    prefixes.is_empty() || prefixes.iter().any(|p| key.starts_with(p.as_bytes()))
}

/// What `run` needs, whichever command built it.
#[derive(Debug, Clone)]
pub struct Config {
    pub etcd: EtcdConfig,
    /// Key prefixes watched; empty means everything.
    pub prefixes: Vec<String>,
    pub service_patterns: Vec<Pattern>,
    pub site_root: PathBuf,
    pub cluster_poll: Duration,
    pub lease_sample_rate: f64,
    pub lease_poll: Duration,
    pub event_history: usize,
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
    /// Whether the configuration routes serve `key` (a key or a prefix):
    /// see [`within_prefixes`].
    pub fn in_scope(&self, key: &[u8]) -> bool {
        within_prefixes(&self.prefixes, key)
    }
}

/// A secret that never prints: `Debug` and logs show `<hidden>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Self {
        Secret(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

/// TLS to etcd: the CA to trust and, for `--client-cert-auth`, a client
/// certificate. `Debug` hides the key.
#[derive(Clone)]
pub struct EtcdTls {
    pub ca_pem: String,
    /// Certificate and key, PEM.
    pub identity: Option<(String, Secret)>,
}

impl std::fmt::Debug for EtcdTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdTls")
            .field("client_certificate", &self.identity.is_some())
            .finish_non_exhaustive()
    }
}

/// An etcd user Leasehold authenticates as.
#[derive(Debug, Clone)]
pub struct EtcdUser {
    pub name: String,
    pub password: Secret,
}

fn read_pem(flag: &str, path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {flag} {}: {e}", path.display()))
}

impl CommonArgs {
    /// TLS to etcd from `--etcd-ca`, `--etcd-cert` and `--etcd-key`; checks
    /// that the endpoints' schemes agree with it.
    pub fn etcd_tls(&self, endpoints: &[String]) -> Result<Option<EtcdTls>, String> {
        let Some(ca) = &self.etcd_ca else {
            if let Some(https) = endpoints.iter().find(|e| e.starts_with("https://")) {
                return Err(format!(
                    "{https} is https: give the CA that signed etcd's certificate with --etcd-ca"
                ));
            }
            return Ok(None);
        };
        if let Some(plain) = endpoints.iter().find(|e| e.starts_with("http://")) {
            return Err(format!(
                "--etcd-ca is given but {plain} is plain http: use https:// endpoints"
            ));
        }
        let identity = match (&self.etcd_cert, &self.etcd_key) {
            (Some(cert), Some(key)) => Some((
                read_pem("--etcd-cert", cert)?,
                Secret::new(read_pem("--etcd-key", key)?),
            )),
            _ => None,
        };
        Ok(Some(EtcdTls {
            ca_pem: read_pem("--etcd-ca", ca)?,
            identity,
        }))
    }

    /// `--auth`, with the users of `--users-file` read and checked.
    pub fn auth_mode(&self) -> Result<AuthMode, String> {
        match (self.auth, &self.users_file) {
            (AuthArg::None, None) => Ok(AuthMode::None),
            (AuthArg::None, Some(_)) => Err("--users-file needs --auth users".to_owned()),
            (AuthArg::Users, None) => Err("--auth users needs --users-file FILE".to_owned()),
            (AuthArg::Users, Some(path)) => Ok(AuthMode::Users(Arc::new(Users::load(path)?))),
        }
    }

    /// HTTPS settings from `--tls-cert` and `--tls-key`.
    pub fn https(&self) -> Result<Option<Arc<tokio_rustls::rustls::ServerConfig>>, String> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => crate::http::tls::server_config(cert, key).map(Some),
            _ => Ok(None),
        }
    }

    /// The etcd user of `--etcd-user`, with its password from
    /// `LEASEHOLD_ETCD_PASSWORD` or `--etcd-password-file`.
    pub fn etcd_user(&self) -> Result<Option<EtcdUser>, String> {
        let Some(name) = self.etcd_user.clone().filter(|n| !n.is_empty()) else {
            return match self.etcd_password_file {
                Some(_) => Err("--etcd-password-file needs --etcd-user".to_owned()),
                None => Ok(None),
            };
        };
        let password = match (&self.etcd_password_file, std::env::var("LEASEHOLD_ETCD_PASSWORD")) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read --etcd-password-file {}: {e}", path.display()))?;
                text.strip_suffix('\n')
                    .map(|t| t.strip_suffix('\r').unwrap_or(t))
                    .unwrap_or(&text)
                    .to_owned()
            }
            (None, Ok(password)) => password,
            (None, Err(_)) => {
                return Err(format!(
                    "--etcd-user {name} needs a password: set LEASEHOLD_ETCD_PASSWORD or pass --etcd-password-file"
                ))
            }
        };
        Ok(Some(EtcdUser {
            name,
            password: Secret::new(password),
        }))
    }
}

/// How Leasehold talks to etcd.
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    pub endpoints: Vec<String>,
    /// Authenticate as this user (etcd with `auth enable`).
    pub user: Option<EtcdUser>,
    /// TLS (and client-certificate auth); `None` for plain http.
    pub tls: Option<EtcdTls>,
    /// Limit for establishing a connection to one endpoint.
    pub connect_timeout: Duration,
    /// Limit for one unary request (not for watch streams).
    pub request_timeout: Duration,
    /// HTTP/2 keepalive ping interval and its answer's deadline: how a frozen
    /// etcd (or a dead network path) is noticed on otherwise idle streams.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
}

impl EtcdConfig {
    pub fn new(endpoints: Vec<String>) -> Self {
        EtcdConfig {
            endpoints,
            user: None,
            tls: None,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(5),
            keepalive_interval: Duration::from_secs(3),
            keepalive_timeout: Duration::from_secs(3),
        }
    }
}

impl Config {
    pub fn new(endpoints: Vec<String>, common: &CommonArgs) -> Result<Self, String> {
        Ok(Config {
            etcd: EtcdConfig {
                user: common.etcd_user()?,
                tls: common.etcd_tls(&endpoints)?,
                ..EtcdConfig::new(endpoints)
            },
            prefixes: common.prefixes.clone(),
            service_patterns: common.service_patterns.clone(),
            site_root: common.site_root.clone(),
            cluster_poll: common.cluster_poll,
            lease_sample_rate: common.lease_sample_rate,
            lease_poll: common.lease_poll,
            event_history: common.event_history,
            read_only: common.read_only,
            audit_log: common.audit_log.clone(),
            auth: common.auth_mode()?,
            session_ttl: common.session_ttl,
            tls: common.https()?,
            allowed_hosts: common.allowed_hosts.clone(),
            trusted_proxies: common.trusted_proxies.clone(),
        })
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();

        let Ok(cli) = Cli::try_parse_from(["leasehold", "serve", "--etcd", "http://a:1,http://b:2", "--read-only"])
        else {
            panic!("serve flags")
        };
        let Command::Serve(serve) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(serve.etcd.endpoints, ["http://a:1", "http://b:2"]);
        assert!(serve.common.read_only);

        let Ok(Cli {
            command: Command::Demo(demo),
        }) = Cli::try_parse_from(["leasehold", "demo", "--demo-services", "8"])
        else {
            panic!("demo flags")
        };
        assert_eq!(demo.etcd.endpoints, ["http://127.0.0.1:2379"]);
        assert_eq!(demo.demo.services, 8);

        let Ok(Cli {
            command: Command::Dev(dev),
        }) = Cli::try_parse_from(["leasehold", "dev", "--no-demo"])
        else {
            panic!("dev flags")
        };
        assert!(dev.no_demo && dev.etcd.is_empty() && !dev.common.read_only);
        assert!(Cli::try_parse_from(["leasehold", "serve", "--demo-ttl", "1s"]).is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert!(parse_duration("2d").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_duration("9600h"), Ok(MAX_DURATION));
        for huge in ["9601h", "99999999999999999999999h", "1e400", "18446744073709551616"] {
            assert!(parse_duration(huge).is_err(), "{huge}");
        }
        assert!(Cli::try_parse_from(["leasehold", "serve", "--session-ttl", "99999999999999999999h"]).is_err());
    }

    #[test]
    fn hosts_and_proxies_parse_from_flags_and_the_environment() {
        let Ok(Cli {
            command: Command::Serve(serve),
        }) = Cli::try_parse_from([
            "leasehold",
            "serve",
            "--allowed-host",
            "Dash.Example",
            "--allowed-host",
            ".corp.example",
            "--trusted-proxy",
            "10.0.0.0/8,192.0.2.1",
        ])
        else {
            panic!("serve flags")
        };
        assert_eq!(serve.common.allowed_hosts, ["dash.example", ".corp.example"]);
        assert_eq!(serve.common.trusted_proxies.len(), 2);
        assert!(Cli::try_parse_from(["leasehold", "serve", "--allowed-host", "a:80"]).is_err());
        assert!(Cli::try_parse_from(["leasehold", "serve", "--trusted-proxy", "10.0.0.0/40"]).is_err());
    }

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
