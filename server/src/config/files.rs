//! What the flags point at, read and checked when the [`super::Config`] is
//! built: the etcd CA, client certificate and password, the dashboard's
//! certificate and key, the users file; and the flags that only make sense
//! together.

use std::path::Path;
use std::sync::Arc;

use super::{AuthArg, CommonArgs, ConfigError, EtcdAccess, EtcdConfig, EtcdTls, EtcdUser, Secret};
use crate::auth::{AuthMode, Users};

/// The text of the PEM file that `flag` names.
fn read_pem(flag: &'static str, path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| ConfigError::Unreadable {
        flag,
        path: path.to_owned(),
        error,
    })
}

impl CommonArgs {
    /// TLS to etcd from `--etcd-ca`, `--etcd-cert` and `--etcd-key`; checks
    /// that the endpoints' schemes agree with it.
    pub fn etcd_tls(&self, endpoints: &[String]) -> Result<Option<EtcdTls>, ConfigError> {
        etcd_tls(
            self.etcd_ca.as_deref(),
            self.etcd_cert.as_deref().zip(self.etcd_key.as_deref()),
            endpoints,
        )
    }

    /// `--auth`, with the users of `--users-file` read and checked.
    pub fn auth_mode(&self) -> Result<AuthMode, ConfigError> {
        match (self.auth, &self.users_file) {
            (AuthArg::None, None) => Ok(AuthMode::None),
            (AuthArg::None, Some(_)) => Err(ConfigError::UsersFileWithoutAuth),
            (AuthArg::Users, None) => Err(ConfigError::AuthUsersWithoutFile),
            (AuthArg::Users, Some(path)) => Ok(AuthMode::Users(Arc::new(
                Users::load(path).map_err(ConfigError::Users)?,
            ))),
        }
    }

    /// HTTPS settings from `--tls-cert` and `--tls-key`.
    pub fn https(&self) -> Result<Option<Arc<tokio_rustls::rustls::ServerConfig>>, ConfigError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => crate::http::tls::server_config(cert, key)
                .map(Some)
                .map_err(ConfigError::Tls),
            _ => Ok(None),
        }
    }

    /// The etcd user of `--etcd-user`, with its password from
    /// `LEASEHOLD_ETCD_PASSWORD` or `--etcd-password-file`.
    pub fn etcd_user(&self) -> Result<Option<EtcdUser>, ConfigError> {
        etcd_user(self.etcd_user.as_deref(), self.etcd_password_file.as_deref())
    }
}

impl EtcdAccess {
    /// How `export` and `import` talk to etcd, with the files the flags
    /// name read and checked, as `serve` does.
    pub fn etcd_config(&self) -> Result<EtcdConfig, ConfigError> {
        Ok(EtcdConfig {
            user: etcd_user(self.etcd_user.as_deref(), self.etcd_password_file.as_deref())?,
            tls: etcd_tls(
                self.etcd_ca.as_deref(),
                self.etcd_cert.as_deref().zip(self.etcd_key.as_deref()),
                &self.endpoints,
            )?,
            ..EtcdConfig::new(self.endpoints.clone())
        })
    }
}

/// TLS to etcd from the CA and the client certificate and key; checks that
/// the endpoints' schemes agree with it.
fn etcd_tls(
    ca: Option<&Path>,
    identity: Option<(&Path, &Path)>,
    endpoints: &[String],
) -> Result<Option<EtcdTls>, ConfigError> {
    let Some(ca) = ca else {
        if let Some(https) = endpoints.iter().find(|e| e.starts_with("https://")) {
            return Err(ConfigError::HttpsWithoutCa {
                endpoint: https.clone(),
            });
        }
        return Ok(None);
    };
    if let Some(plain) = endpoints.iter().find(|e| e.starts_with("http://")) {
        return Err(ConfigError::CaWithPlainHttp {
            endpoint: plain.clone(),
        });
    }
    let identity = match identity {
        Some((cert, key)) => Some((
            read_pem("--etcd-cert", cert)?,
            Secret::new(read_pem("--etcd-key", key)?),
        )),
        None => None,
    };
    Ok(Some(EtcdTls {
        ca_pem: read_pem("--etcd-ca", ca)?,
        identity,
    }))
}

/// The etcd user `name`, with its password from `password_file` or
/// `LEASEHOLD_ETCD_PASSWORD`.
fn etcd_user(name: Option<&str>, password_file: Option<&Path>) -> Result<Option<EtcdUser>, ConfigError> {
    let Some(name) = name.filter(|n| !n.is_empty()).map(str::to_owned) else {
        return match password_file {
            Some(_) => Err(ConfigError::PasswordFileWithoutUser),
            None => Ok(None),
        };
    };
    let password = match (password_file, std::env::var("LEASEHOLD_ETCD_PASSWORD")) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Unreadable {
                flag: "--etcd-password-file",
                path: path.to_owned(),
                error,
            })?;
            text.strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text)
                .to_owned()
        }
        (None, Ok(password)) => password,
        (None, Err(_)) => return Err(ConfigError::NoEtcdPassword { user: name }),
    };
    Ok(Some(EtcdUser {
        name,
        password: Secret::new(password),
    }))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::config::{Cli, Command, Config};

    /// `Config::new` for `leasehold serve` with these flags.
    fn serve(flags: &[&str]) -> Result<Config, ConfigError> {
        let args = ["leasehold", "serve"].iter().chain(flags);
        let Ok(Cli {
            command: Command::Serve(serve),
        }) = Cli::try_parse_from(args)
        else {
            panic!("serve {flags:?} parses")
        };
        Config::new(serve.etcd.endpoints, &serve.common)
    }

    #[test]
    fn flags_that_need_each_other_are_refused_with_the_missing_one_named() {
        let Err(error) = serve(&["--users-file", "users.toml"]) else {
            panic!("users file without --auth users")
        };
        assert!(matches!(error, ConfigError::UsersFileWithoutAuth));
        assert_eq!(error.to_string(), "--users-file needs --auth users");
        assert!(matches!(
            serve(&["--auth", "users"]),
            Err(ConfigError::AuthUsersWithoutFile)
        ));
        assert!(matches!(
            serve(&["--etcd-password-file", "password"]),
            Err(ConfigError::PasswordFileWithoutUser)
        ));
        assert!(matches!(
            serve(&["--etcd", "https://etcd:2379"]),
            Err(ConfigError::HttpsWithoutCa { endpoint }) if endpoint == "https://etcd:2379"
        ));
        assert!(matches!(
            serve(&["--etcd", "http://etcd:2379", "--etcd-ca", "ca.pem"]),
            Err(ConfigError::CaWithPlainHttp { endpoint }) if endpoint == "http://etcd:2379"
        ));
    }

    #[test]
    fn a_file_that_cannot_be_read_is_named_with_its_flag() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("ca.pem");
        let path = missing.to_string_lossy().into_owned();
        let Err(error) = serve(&["--etcd", "https://etcd:2379", "--etcd-ca", &path]) else {
            panic!("a missing CA")
        };
        assert!(
            matches!(&error, ConfigError::Unreadable { flag: "--etcd-ca", path: p, .. } if *p == missing),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot read --etcd-ca {path}: ")),
            "{error}"
        );
        assert!(matches!(
            serve(&["--auth", "users", "--users-file", &path]),
            Err(ConfigError::Users(message)) if message.contains(&path)
        ));
    }

    #[test]
    fn the_defaults_make_a_config() {
        let Ok(config) = serve(&[]) else {
            panic!("the defaults are valid")
        };
        assert_eq!(config.etcd.endpoints, ["http://127.0.0.1:2379"]);
        assert!(matches!(config.auth, AuthMode::None));
        assert!(config.tls.is_none() && config.etcd.tls.is_none());
    }
}
