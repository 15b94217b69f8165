//! The words both halves must spell alike: error codes (REST bodies and
//! WebSocket `error` messages) and the WebSocket close codes of our own.

use serde::{Deserialize, Serialize};

/// Why a request or a subscription was refused: `error.code` of a REST error
/// body, `code` of a WebSocket `error` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    NotFound,
    Unauthenticated,
    Forbidden,
    /// Outside the `--prefix` this server serves (REST).
    OutOfScope,
    /// A `Host` header `--auth none` does not serve (DNS rebinding).
    HostNotAllowed,
    /// A compare-and-swap lost: someone else changed the key first.
    Conflict,
    /// A lock's holder is no longer the one a break-lock was confirmed against.
    HolderChanged,
    /// A lease's keys are no longer those the revoke preview showed.
    Changed,
    /// The revision asked for is compacted away.
    Compacted,
    /// A check the action's preview lists does not hold now (a disarm while
    /// the database is still over its quota, a defragmentation while a
    /// member is unhealthy).
    PreconditionFailed,
    /// Another run of the action is under way (a rolling defragmentation).
    InProgress,
    TooManyRequests,
    /// Every slot for the work is taken (password checks): retry after a while.
    Busy,
    EtcdUnavailable,
    Internal,
    /// A topic this server does not serve (a `kv:` prefix outside `--prefix`).
    NotServed,
    /// A topic too large to send whole: subscribe to a longer prefix.
    TooLarge,
    /// Over the socket's topic limits.
    TooManyTopics,
    /// A code this build does not know (from a newer server). Never sent.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as the wire spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::OutOfScope => "out_of_scope",
            ErrorCode::HostNotAllowed => "host_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::HolderChanged => "holder_changed",
            ErrorCode::Changed => "changed",
            ErrorCode::Compacted => "compacted",
            ErrorCode::PreconditionFailed => "precondition_failed",
            ErrorCode::InProgress => "in_progress",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::Busy => "busy",
            ErrorCode::EtcdUnavailable => "etcd_unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::NotServed => "not_served",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::TooManyTopics => "too_many_topics",
            ErrorCode::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The WebSocket close code the server sends when the sign-in the socket
/// was opened with ends (signed out, expired): the browser signs in again
/// instead of reconnecting. In the 4000-4999 range, private to applications.
pub const CLOSE_SIGNED_OUT: u16 = 4401;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_spelled_on_the_wire_as_as_str_says() {
        let all = [
            ErrorCode::BadRequest,
            ErrorCode::NotFound,
            ErrorCode::Unauthenticated,
            ErrorCode::Forbidden,
            ErrorCode::OutOfScope,
            ErrorCode::HostNotAllowed,
            ErrorCode::Conflict,
            ErrorCode::HolderChanged,
            ErrorCode::Changed,
            ErrorCode::Compacted,
            ErrorCode::PreconditionFailed,
            ErrorCode::InProgress,
            ErrorCode::TooManyRequests,
            ErrorCode::Busy,
            ErrorCode::EtcdUnavailable,
            ErrorCode::Internal,
            ErrorCode::NotServed,
            ErrorCode::TooLarge,
            ErrorCode::TooManyTopics,
        ];
        for code in all {
            let text = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(text, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&text).ok(), Some(code));
        }
        assert_eq!(
            serde_json::from_str::<ErrorCode>("\"newer\"").ok(),
            Some(ErrorCode::Unknown)
        );
    }
}
