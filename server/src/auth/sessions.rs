//! Signed-in sessions and the per-client brake on failed logins.
//!
//! Sessions live in memory: a restart signs everyone out. A session has an
//! absolute expiry (`--session-ttl`); logging out or expiring ends it at once,
//! WebSockets included (they watch [`SignedIn::ended`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use app::model::Role;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: String,
    pub role: Role,
    pub expires: Instant,
    /// Cancelled when the session is logged out.
    pub ended: CancellationToken,
}

/// Session token -> session. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    by_token: Arc<Mutex<HashMap<String, SignedIn>>>,
    ttl: Duration,
}

/// The longest session: what browsers keep a cookie at most (400 days).
/// `--session-ttl` refuses longer ones; a longer one given here is cut to it.
pub const MAX_TTL: Duration = crate::config::MAX_DURATION;

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Sessions {
            by_token: Arc::new(Mutex::new(HashMap::new())),
            ttl: ttl.min(MAX_TTL),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Starts a session; the token (256 random bits) goes into the cookie.
    /// Fails only when the clock cannot count that far ahead.
    pub fn create(&self, user: String, role: Role) -> Result<(String, SignedIn), String> {
        self.create_at(user, role, Instant::now())
    }

    fn create_at(&self, user: String, role: Role, now: Instant) -> Result<(String, SignedIn), String> {
        let expires = now
            .checked_add(self.ttl)
            .ok_or_else(|| format!("a session of {:?} ends beyond what the clock counts", self.ttl))?;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let session = SignedIn {
            user,
            role,
            expires,
            ended: CancellationToken::new(),
        };
        let mut sessions = self.by_token.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(token.clone(), session.clone());
        Ok((token, session))
    }

    /// The live session of `token`, if any.
    pub fn get(&self, token: &str) -> Option<SignedIn> {
        self.get_at(token, Instant::now())
    }

    fn get_at(&self, token: &str, now: Instant) -> Option<SignedIn> {
        let mut sessions = self.by_token.lock().unwrap_or_else(PoisonError::into_inner);
        match sessions.get(token) {
            Some(session) if session.expires > now => Some(session.clone()),
            Some(_) => {
                sessions.remove(token);
                None
            }
            None => None,
        }
    }

    /// Ends the session of `token` (logout): later requests with it are 401
    /// and its WebSockets close.
    pub fn end(&self, token: &str) -> Option<SignedIn> {
        let session = self
            .by_token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token)?;
        session.ended.cancel();
        Some(session)
    }
}

/// Login attempts a client may make before it has to wait.
const FREE_ATTEMPTS: u32 = 3;
/// The first wait; each further attempt doubles it, up to [`LONGEST_WAIT`].
const FIRST_WAIT: Duration = Duration::from_secs(5);
const LONGEST_WAIT: Duration = Duration::from_secs(300);
/// A client that made no attempt for this long starts afresh.
const FORGET_AFTER: Duration = Duration::from_secs(900);
/// Clients remembered at most; the oldest are forgotten first beyond it.
const MAX_CLIENTS: usize = 10_000;

struct Attempts {
    /// Attempts since the last success, this one included.
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// Slows down password guessing, per client address. An attempt counts as a
/// failure from the moment it starts (so parallel guesses count too) until
/// it succeeds.
#[derive(Clone, Default)]
pub struct Throttle {
    clients: Arc<Mutex<HashMap<IpAddr, Attempts>>>,
}

impl Throttle {
    /// Lets an attempt from `client` go ahead, or says how long it must wait.
    pub fn begin(&self, client: IpAddr) -> Result<(), Duration> {
        self.begin_at(client, Instant::now())
    }

    fn begin_at(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if clients.len() >= MAX_CLIENTS {
            clients.retain(|_, a| now.duration_since(a.last) < FORGET_AFTER);
            if clients.len() >= MAX_CLIENTS {
                if let Some(oldest) = clients.iter().min_by_key(|(_, a)| a.last).map(|(ip, _)| *ip) {
                    clients.remove(&oldest);
                }
            }
        }
        let attempts = clients.entry(client).or_insert(Attempts {
            count: 0,
            last: now,
            blocked_until: None,
        });
        if now.duration_since(attempts.last) >= FORGET_AFTER {
            attempts.count = 0;
            attempts.blocked_until = None;
        }
        if let Some(until) = attempts.blocked_until.filter(|until| *until > now) {
            return Err(until - now);
        }
        attempts.count += 1;
        attempts.last = now;
        if attempts.count > FREE_ATTEMPTS {
            let doublings = (attempts.count - FREE_ATTEMPTS - 1).min(16);
            let wait = FIRST_WAIT.saturating_mul(1 << doublings).min(LONGEST_WAIT);
            attempts.blocked_until = Some(now + wait);
        }
        Ok(())
    }

    /// The client signed in: its slate is clean.
    pub fn succeeded(&self, client: IpAddr) {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guessing_is_slowed_and_a_success_resets() {
        let throttle = Throttle::default();
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let mut now = Instant::now();
        for _ in 0..=FREE_ATTEMPTS {
            assert!(throttle.begin_at(a, now).is_ok());
        }
        assert_eq!(throttle.begin_at(a, now), Err(FIRST_WAIT));
        assert!(throttle.begin_at(b, now).is_ok(), "another client is not affected");
        now += FIRST_WAIT;
        assert!(throttle.begin_at(a, now).is_ok());
        assert_eq!(
            throttle.begin_at(a, now),
            Err(FIRST_WAIT * 2),
            "each attempt doubles the wait"
        );
        now += FIRST_WAIT * 2;
        assert!(throttle.begin_at(a, now).is_ok());
        throttle.succeeded(a);
        for _ in 0..FREE_ATTEMPTS {
            assert!(throttle.begin_at(a, now).is_ok());
        }
        now += FORGET_AFTER;
        for _ in 0..FREE_ATTEMPTS {
            assert!(throttle.begin_at(b, now).is_ok(), "a quiet client is forgotten");
        }
    }

    #[test]
    fn sessions_end_on_logout_and_expiry() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let now = Instant::now();
        let Ok((token, session)) = sessions.create_at("ada".to_owned(), Role::Viewer, now) else {
            panic!("a session")
        };
        assert_eq!(token.len(), 43);
        assert!(sessions.get(&token).is_some());
        assert!(sessions.get("forged").is_none());
        sessions.end(&token);
        assert!(session.ended.is_cancelled());
        assert!(sessions.get(&token).is_none());

        let Ok((token, _)) = sessions.create_at("ada".to_owned(), Role::Viewer, now) else {
            panic!("a session")
        };
        assert!(sessions.get_at(&token, now + Duration::from_secs(59)).is_some());
        assert!(
            sessions.get_at(&token, now + Duration::from_secs(61)).is_none(),
            "expired"
        );
    }

    #[test]
    fn a_huge_ttl_is_cut_and_never_overflows() {
        let sessions = Sessions::new(Duration::MAX);
        assert_eq!(sessions.ttl(), MAX_TTL);
        assert!(sessions.create("ada".to_owned(), Role::Viewer).is_ok());
    }
}
