//! Who may use the dashboard: `--auth none` (everyone who can reach it, so
//! only on loopback) or `--auth users` (a users file, a login, sessions).

mod sessions;
mod users;

use std::sync::Arc;

use app::model::Role;

pub use sessions::{Sessions, SignedIn, Throttle};
pub use users::{hash_password, Users};

/// How callers are told apart, as configured.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// No login: everyone is an operator (a viewer under `--read-only`).
    None,
    /// Sign in as one of these users.
    Users(Arc<Users>),
}

impl AuthMode {
    pub fn name(&self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Users(_) => "users",
        }
    }
}

/// Who is asking, as the request's authentication found it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The signed-in user; `None` without a login (`--auth none`).
    pub user: Option<String>,
    pub role: Role,
    /// The session the request came with, under `--auth users`.
    pub session: Option<SignedIn>,
}

impl Caller {
    /// How the audit log names the caller.
    pub fn who(&self) -> &str {
        self.user.as_deref().unwrap_or("anonymous")
    }
}
