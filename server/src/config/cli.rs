//! The command line: clap's derive structs for each subcommand and each
//! group of flags they share. A flag's name, its `LEASEHOLD_*` environment
//! variable, its default and its help text are all written here, once; the
//! table of flags in README.md lists the same.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::duration::parse_duration;
use super::ConfigError;
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
    /// Write the keys under a prefix, now or at a past revision, to a JSON
    /// document (the format of `GET /api/v1/export`).
    Export(ExportArgs),
    /// Import a document (an export, or `etcdctl get --prefix -w json`
    /// output) into a prefix: the dry run's plan, or with --apply the plan
    /// applied by compare-and-swap on what the dry run saw.
    Import(ImportArgs),
    /// Copy the keys under a prefix to another (with --rename, then delete
    /// them from the first): the dry run's plan, or with --apply the plan
    /// applied by compare-and-swap on what the dry run saw. A rename cut
    /// short is resumed by running it again.
    Copy(CopyArgs),
}

/// The etcd that `export`, `import` and `copy` talk to, and how.
#[derive(Debug, Clone, Args)]
pub struct EtcdAccess {
    /// etcd client endpoints, comma-separated.
    #[arg(
        long = "etcd",
        visible_alias = "endpoints",
        env = "LEASEHOLD_ETCD_ENDPOINTS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:2379"
    )]
    pub endpoints: Vec<String>,

    /// etcd user to authenticate as. The password comes from
    /// LEASEHOLD_ETCD_PASSWORD or --etcd-password-file, never from a flag.
    #[arg(long, env = "LEASEHOLD_ETCD_USER")]
    pub etcd_user: Option<String>,

    /// A file holding the etcd user's password (one trailing newline is ignored).
    #[arg(long, env = "LEASEHOLD_ETCD_PASSWORD_FILE")]
    pub etcd_password_file: Option<PathBuf>,

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

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub etcd: EtcdAccess,

    /// The keys under this prefix ("" for every key).
    #[arg(long)]
    pub prefix: String,

    /// As the prefix was at this revision (default: now).
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub rev: Option<i64>,

    /// Record no lease: neither the keys' leases nor their TTLs.
    #[arg(long)]
    pub drop_leases: bool,

    /// Write the document to this file (default: stdout). It appears only
    /// once whole.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub etcd: EtcdAccess,

    /// Where the keys go: each key's part after the document's prefix is put under it.
    #[arg(long)]
    pub prefix: String,

    /// The document: an export, or `etcdctl get --prefix -w json` output
    /// (`-`: stdin).
    pub file: PathBuf,

    /// The document's prefix the keys are taken from (default: the export's
    /// prefix; for etcdctl output, the keys' longest common prefix cut after
    /// its last `/`).
    #[arg(long)]
    pub from: Option<String>,

    /// Delete the keys under --prefix the document does not hold.
    #[arg(long)]
    pub delete_missing: bool,

    /// Write the keys on new leases, one per recorded lease, granted with
    /// its TTL (an export's leases; etcdctl output records no TTL).
    #[arg(long)]
    pub recreate_leases: bool,

    /// Apply the plan (default: print the dry run only). Every key is
    /// written only while it is as the dry run saw it; the others are
    /// printed as conflicts.
    #[arg(long)]
    pub apply: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CopyArgs {
    #[command(flatten)]
    pub etcd: EtcdAccess,

    /// The keys under this prefix are copied.
    #[arg(long = "from")]
    pub from: String,

    /// ... to this prefix: each key's part after --from is put under it.
    /// Neither prefix may hold the other.
    #[arg(long = "to")]
    pub to: String,

    /// Copy --from as it was at this revision (not with --rename).
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..), conflicts_with = "rename")]
    pub rev: Option<i64>,

    /// Then delete each key from --from whose copy was written, while it is
    /// still as the dry run saw it.
    #[arg(long)]
    pub rename: bool,

    /// Delete the keys under --to that --from does not hold.
    #[arg(long)]
    pub delete_missing: bool,

    /// Write the keys on new leases, one per lease of the source, granted
    /// with its TTL.
    #[arg(long)]
    pub recreate_leases: bool,

    /// Apply the plan (default: print the dry run only).
    #[arg(long)]
    pub apply: bool,
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

    /// Where the real client libraries the demo runs beside its own
    /// workload are installed (`make setup-peers`): a Moleculer node and a
    /// tooz group, each a process of its own. Relative to the working
    /// directory; `off` runs none. Without them installed the demo says how
    /// to add them and goes on.
    #[arg(
        long = "demo-clients",
        value_name = "DIR|off",
        env = "LEASEHOLD_DEMO_CLIENTS",
        default_value = "peers"
    )]
    pub clients: String,
}

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Address the dashboard listens on (port 0 picks a free port).
    #[arg(long, env = "LEASEHOLD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Serve the site (the `pkg/` wasm, JS and CSS) from this directory
    /// instead of the one built into the binary. Relative paths are taken
    /// from the working directory. Default: the built-in site, or
    /// `target/site` for a binary built without one.
    #[arg(long, env = "LEASEHOLD_SITE_ROOT")]
    pub site_root: Option<PathBuf>,

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

    /// The members' `--quota-backend-bytes`, for the operations console when
    /// a member does not say it (in its status or its `/metrics`): a number
    /// of bytes, or with KiB, MiB or GiB (`8GiB`). Unset: etcd's default, 2 GiB.
    #[arg(long, env = "LEASEHOLD_ETCD_QUOTA", value_parser = parse_bytes)]
    pub etcd_quota: Option<i64>,

    /// Budget of lease TTL samples (etcd `TimeToLive` requests) per second.
    #[arg(long, env = "LEASEHOLD_LEASE_SAMPLE_RATE", default_value_t = 20.0, value_parser = parse_rate)]
    pub lease_sample_rate: f64,

    /// How often the list of leases (`LeaseLeases`) is read.
    #[arg(long, env = "LEASEHOLD_LEASE_POLL", default_value = "5s", value_parser = parse_duration)]
    pub lease_poll: Duration,
    /// Events kept in memory for the timeline and `GET /api/v1/events`.
    #[arg(long, env = "LEASEHOLD_EVENT_HISTORY", default_value_t = 10_000)]
    pub event_history: usize,

    /// Services whose own history (instances, registrations, expiries over
    /// time) is kept: those that changed most recently. Memory is about
    /// 58 KiB per service.
    #[arg(long, env = "LEASEHOLD_HISTORY_SERVICES", default_value_t = 50)]
    pub history_services: usize,
    /// Services `/metrics` gives a `leasehold_service_instances` gauge of:
    /// the largest; the others are summed as `service="other"`.
    #[arg(long, env = "LEASEHOLD_METRICS_SERVICES", default_value_t = 20)]
    pub metrics_services: usize,
    /// An eviction storm is this many expiries within `--storm-window`, as a
    /// share of the registry's instances (0.1: a tenth of them)...
    #[arg(long, env = "LEASEHOLD_STORM_RATIO", default_value_t = 0.1, value_parser = parse_ratio)]
    pub storm_ratio: f64,
    /// ...and at least this many.
    #[arg(long, env = "LEASEHOLD_STORM_MIN", default_value_t = 20)]
    pub storm_min: u64,
    /// The window expiries are counted in for the eviction storm.
    #[arg(long, env = "LEASEHOLD_STORM_WINDOW", default_value = "60s", value_parser = parse_duration)]
    pub storm_window: Duration,

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

/// `--lease-sample-rate`: a positive number.
fn parse_rate(s: &str) -> Result<f64, ConfigError> {
    match s.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(ConfigError::NotARate(s.to_owned())),
    }
}

/// `--storm-ratio`: a share, from 0 to 1.
fn parse_ratio(s: &str) -> Result<f64, ConfigError> {
    match s.trim().parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(ConfigError::NotARatio(s.to_owned())),
    }
}

/// `--etcd-quota`: a positive number of bytes, with an optional binary unit.
fn parse_bytes(s: &str) -> Result<i64, ConfigError> {
    let text = s.trim();
    let (digits, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |at| (&text[..at], text[at..].trim()));
    let scale: i64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        _ => return Err(ConfigError::NotBytes(s.to_owned())),
    };
    digits
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|n| *n > 0)
        .ok_or_else(|| ConfigError::NotBytes(s.to_owned()))
}

/// `--demo-churn`: zero or a positive number.
fn parse_per_minute(s: &str) -> Result<f64, ConfigError> {
    match s.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        _ => Err(ConfigError::NotAPerMinute(s.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_is_bytes_or_a_binary_unit() {
        assert_eq!(parse_bytes("16777216").ok(), Some(16 << 20));
        assert_eq!(parse_bytes("16MiB").ok(), Some(16 << 20));
        assert_eq!(parse_bytes("8 GiB").ok(), Some(8 << 30));
        assert_eq!(parse_bytes("2g").ok(), Some(2 << 30));
        for bad in ["", "0", "-1", "1.5GiB", "3TB", "99999999999GiB"] {
            assert!(parse_bytes(bad).is_err(), "{bad:?} was taken for a size");
        }
    }

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
    fn export_and_import_parse_with_the_etcd_flags_of_serve() {
        let Ok(Cli {
            command: Command::Export(export),
        }) = Cli::try_parse_from([
            "leasehold",
            "export",
            "--endpoints",
            "http://a:1,http://b:2",
            "--prefix",
            "/p/",
            "--rev",
            "5",
            "--drop-leases",
            "-o",
            "out.json",
        ])
        else {
            panic!("export flags")
        };
        assert_eq!(export.etcd.endpoints, ["http://a:1", "http://b:2"]);
        assert_eq!(
            (export.prefix.as_str(), export.rev, export.drop_leases),
            ("/p/", Some(5), true)
        );
        assert_eq!(export.output.as_deref(), Some(std::path::Path::new("out.json")));
        assert!(Cli::try_parse_from(["leasehold", "export", "--prefix", "/p/", "--rev", "0"]).is_err());
        assert!(
            Cli::try_parse_from(["leasehold", "export"]).is_err(),
            "--prefix is required"
        );

        let Ok(Cli {
            command: Command::Import(import),
        }) = Cli::try_parse_from([
            "leasehold",
            "import",
            "--etcd",
            "http://a:1",
            "--prefix",
            "/q/",
            "doc.json",
            "--apply",
        ])
        else {
            panic!("import flags")
        };
        assert_eq!(import.file, std::path::PathBuf::from("doc.json"));
        assert!(import.apply && !import.delete_missing && !import.recreate_leases && import.from.is_none());
        assert!(
            Cli::try_parse_from(["leasehold", "import", "--prefix", "/q/"]).is_err(),
            "the file is required"
        );
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
}
