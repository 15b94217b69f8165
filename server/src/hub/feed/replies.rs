//! What a feed owes its client besides the topics' data: the answer to
//! its pings and the errors its messages caused. Both are kept bounded while
//! the client is not reading, whatever it sends.

use app::model::{ErrorCode, Revision, ServerMsg, Topic};

/// Errors that may wait for a busy socket. Every error answers something
/// the client sent (a malformed message, a topic refused), and a client
/// that reads its socket has them all within a message or two; one that
/// keeps sending while not reading would otherwise make the server hold an
/// answer per message. Past this the socket is closed (1008).
pub const MAX_QUEUED_ERRORS: usize = 32;

/// Why a client's request is refused, as the `code` of an `error` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A message that is not a client message (malformed JSON, an unknown
    /// type or topic, a binary frame).
    BadRequest,
    /// A `kv:`/`kv-dir:` prefix outside the prefixes this server mirrors.
    NotServed,
    /// A subscription over the socket's topic limits.
    TooManyTopics,
}

impl Refusal {
    pub fn code(self) -> ErrorCode {
        match self {
            Refusal::BadRequest => ErrorCode::BadRequest,
            Refusal::NotServed => ErrorCode::NotServed,
            Refusal::TooManyTopics => ErrorCode::TooManyTopics,
        }
    }
}

/// The client sends faster than it reads the errors it causes.
#[derive(Debug, PartialEq, Eq)]
pub struct Flooded;

/// Pongs and errors due on a socket.
#[derive(Debug, Default)]
pub struct Replies {
    /// A ping waits for its pong. Pings coalesce: a pong says how current
    /// the socket is when it is sent, so only the latest one matters.
    pong: bool,
    errors: Vec<ServerMsg>,
}

impl Replies {
    pub fn ping(&mut self) {
        self.pong = true;
    }

    /// Queues an error; `Err` when [`MAX_QUEUED_ERRORS`] already wait.
    pub fn refuse(&mut self, why: Refusal, message: String, topic: Option<Topic>) -> Result<(), Flooded> {
        if self.errors.len() >= MAX_QUEUED_ERRORS {
            return Err(Flooded);
        }
        self.errors.push(ServerMsg::Error {
            code: why.code(),
            message,
            topic,
        });
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        !self.pong && self.errors.is_empty()
    }

    /// What is due, in order: the pong (at `revision`), then the errors as
    /// they arose.
    pub fn take(&mut self, revision: Revision) -> Vec<ServerMsg> {
        let mut out = Vec::with_capacity(self.errors.len() + 1);
        if std::mem::take(&mut self.pong) {
            out.push(ServerMsg::Pong { revision });
        }
        out.append(&mut self.errors);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_while_the_socket_is_busy_get_one_pong_at_the_revision_it_is_sent() {
        let mut replies = Replies::default();
        assert!(replies.is_empty());
        for _ in 0..10_000 {
            replies.ping();
        }
        let due = replies.take(42);
        assert!(matches!(due.as_slice(), [ServerMsg::Pong { revision: 42 }]), "{due:?}");
        assert!(replies.is_empty());
        assert!(replies.take(43).is_empty());
    }

    #[test]
    fn errors_are_kept_in_order_and_bounded() {
        let mut replies = Replies::default();
        for n in 0..MAX_QUEUED_ERRORS {
            assert_eq!(replies.refuse(Refusal::NotServed, format!("{n}"), None), Ok(()));
        }
        assert_eq!(
            replies.refuse(Refusal::BadRequest, "one too many".to_owned(), None),
            Err(Flooded)
        );
        replies.ping();
        let due = replies.take(7);
        assert_eq!(due.len(), MAX_QUEUED_ERRORS + 1);
        assert!(matches!(due.first(), Some(ServerMsg::Pong { revision: 7 })));
        assert!(
            matches!(due.get(1), Some(ServerMsg::Error { code, message, .. }) if *code == ErrorCode::NotServed && message == "0")
        );
        // Read: room again.
        assert_eq!(replies.refuse(Refusal::TooManyTopics, "x".to_owned(), None), Ok(()));
    }
}
