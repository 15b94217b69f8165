//! [`ConfigError`]: every way the command line, the environment or a file
//! it names can be wrong, each with the message `leasehold` prints for it.
//!
//! The flag value variants come back from clap's value parsers (clap prints
//! them as usage errors, exit code 2); the others from [`super::Config::new`]
//! once the flags are parsed.

use std::path::PathBuf;

/// Why a configuration is refused at start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A duration flag that is not a number with a unit.
    #[error("{0:?} is not a duration like 500ms, 2s, 1m or 12h")]
    NotADuration(String),
    /// A duration in a unit other than ms, s, m or h.
    #[error("{0:?}: the unit must be ms, s, m or h")]
    DurationUnit(String),
    /// A duration of zero (or less).
    #[error("{0:?} must be positive")]
    DurationNotPositive(String),
    /// A duration longer than [`super::MAX_DURATION`].
    #[error("{0:?} is too long: at most 400 days (9600h)")]
    DurationTooLong(String),
    /// `--lease-sample-rate` that is not a positive number.
    #[error("{0:?} is not a positive number of requests per second")]
    NotARate(String),
    /// `--storm-ratio` that is not a number from 0 to 1.
    #[error("{0:?} is not a share from 0 to 1 (0.1 is a tenth)")]
    NotARatio(String),
    /// `--etcd-quota` that is not a positive size.
    #[error("{0:?} is not a size in bytes (a whole number, optionally with KiB, MiB or GiB)")]
    NotBytes(String),
    /// `--demo-churn` that is not a number, or a negative one.
    #[error("{0:?} is not a number of events per minute (0 or more)")]
    NotAPerMinute(String),

    /// An `https://` etcd endpoint without `--etcd-ca`.
    #[error("{endpoint} is https: give the CA that signed etcd's certificate with --etcd-ca")]
    HttpsWithoutCa { endpoint: String },
    /// `--etcd-ca` with a plain `http://` endpoint.
    #[error("--etcd-ca is given but {endpoint} is plain http: use https:// endpoints")]
    CaWithPlainHttp { endpoint: String },
    /// `--users-file` under `--auth none`.
    #[error("--users-file needs --auth users")]
    UsersFileWithoutAuth,
    /// `--auth users` without its `--users-file`.
    #[error("--auth users needs --users-file FILE")]
    AuthUsersWithoutFile,
    /// `--etcd-password-file` without `--etcd-user`.
    #[error("--etcd-password-file needs --etcd-user")]
    PasswordFileWithoutUser,
    /// `--etcd-user` with neither `LEASEHOLD_ETCD_PASSWORD` nor `--etcd-password-file`.
    #[error("--etcd-user {user} needs a password: set LEASEHOLD_ETCD_PASSWORD or pass --etcd-password-file")]
    NoEtcdPassword { user: String },

    /// A file a flag names cannot be read.
    #[error("cannot read {flag} {}: {error}", path.display())]
    Unreadable {
        flag: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    /// The `--users-file` cannot be read or is not a valid list of users
    /// (the message names the file and what is wrong in it).
    #[error("{0}")]
    Users(String),
    /// `--tls-cert` or `--tls-key` cannot be read or do not make a server
    /// certificate (the message names the flag and the file).
    #[error("{0}")]
    Tls(String),
}
