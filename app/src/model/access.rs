//! Who the browser is talking as: `GET /api/v1/me`.

use serde::{Deserialize, Serialize};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// May also revoke leases and break locks.
    Operator,
}

/// `GET /api/v1/me`. Without access control (`auth: "none"`) there is no
/// user and everyone has the server's one role: `operator`, or `viewer`
/// under `--read-only`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MeBody {
    pub user: Option<String>,
    pub role: Role,
    /// `none` (no login) or `users`.
    pub auth: String,
    /// The server was started with `--read-only`: no destructive action exists.
    pub read_only: bool,
}

/// `POST /api/v1/login` answers who signed in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LoginBody {
    pub user: String,
    pub role: Role,
}

impl MeBody {
    /// Whether destructive controls (revoke, break lock) should be offered.
    pub fn may_revoke(&self) -> bool {
        self.role == Role::Operator && !self.read_only
    }

    /// Whether this server has a login (and so a logout).
    pub fn has_login(&self) -> bool {
        self.auth == "users"
    }
}
