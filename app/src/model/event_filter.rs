//! Which timeline events a reader wants: the query of `GET /api/v1/events`
//! (kind, text, subject, a time range, lock chatter hidden), one matcher for
//! the server (over the whole history it keeps) and the browser (over the
//! live events that arrive after the server's answer), so both agree.

use super::{encode_segment as encode, Event, EventKind};

/// The lock hand-over events that a busy registry makes many of.
pub const LOCK_CHATTER: [EventKind; 3] = [EventKind::LockAcquired, EventKind::LockWaiting, EventKind::LockReleased];

/// A filter over events; the default lets every event through.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventFilter {
    /// Only these kinds; empty: every kind.
    pub kinds: Vec<EventKind>,
    /// Text in the subject or in a text field of the detail (ASCII letters
    /// of any case; other letters as written).
    pub text: String,
    /// Exactly this subject (an instance key, lease id, lock name).
    pub subject: Option<String>,
    /// Without [`LOCK_CHATTER`].
    pub hide_lock_chatter: bool,
    /// At or after this time (RFC 3339, UTC, as events are stamped).
    pub from: Option<String>,
    /// At or before this time.
    pub until: Option<String>,
}

impl EventFilter {
    /// Whether nothing is filtered.
    pub fn is_empty(&self) -> bool {
        *self == EventFilter::default()
    }

    pub fn matches(&self, event: &Event) -> bool {
        if !self.kinds.is_empty() && !self.kinds.contains(&event.kind) {
            return false;
        }
        if self.hide_lock_chatter && LOCK_CHATTER.contains(&event.kind) {
            return false;
        }
        if self.subject.as_ref().is_some_and(|s| *s != event.subject) {
            return false;
        }
        if self.from.as_ref().is_some_and(|from| event.at.as_str() < from.as_str()) {
            return false;
        }
        if self
            .until
            .as_ref()
            .is_some_and(|until| event.at.as_str() > until.as_str())
        {
            return false;
        }
        let text = self.text.trim();
        text.is_empty() || contains(&event.subject, text) || detail_contains(&event.detail, text)
    }

    /// The query string (without `?`) that asks the server for this filter.
    pub fn to_query(&self) -> String {
        let mut parts = Vec::new();
        if !self.kinds.is_empty() {
            let kinds: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
            parts.push(format!("kind={}", kinds.join(",")));
        }
        if !self.text.trim().is_empty() {
            parts.push(format!("q={}", encode(self.text.trim())));
        }
        if let Some(subject) = &self.subject {
            parts.push(format!("subject={}", encode(subject)));
        }
        if self.hide_lock_chatter {
            parts.push("hide=lock_chatter".to_owned());
        }
        if let Some(from) = &self.from {
            parts.push(format!("from={}", encode(from)));
        }
        if let Some(until) = &self.until {
            parts.push(format!("until={}", encode(until)));
        }
        parts.join("&")
    }

    /// Reads `kind`, `q`, `subject`, `hide` from decoded query pairs (`from`
    /// and `until` are times the caller checks and sets). An unknown kind or
    /// `hide` value is an error in words.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, String> {
        let mut filter = EventFilter::default();
        for (name, value) in pairs {
            match name {
                "kind" => {
                    for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                        let kind = EventKind::ALL
                            .into_iter()
                            .find(|k| k.as_str() == word)
                            .ok_or_else(|| format!("kind={word:?} is not an event kind"))?;
                        filter.kinds.push(kind);
                    }
                }
                "q" => filter.text = value.to_owned(),
                "subject" => filter.subject = Some(value.to_owned()),
                "hide" => match value {
                    "lock_chatter" => filter.hide_lock_chatter = true,
                    "" => {}
                    other => return Err(format!("hide={other:?}: only lock_chatter can be hidden")),
                },
                _ => {}
            }
        }
        Ok(filter)
    }
}

fn contains(haystack: &str, needle: &str) -> bool {
    if haystack.len() < needle.len() {
        return false;
    }
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The text fields of an event's detail, one level deep (who, service, key, action…).
fn detail_contains(detail: &serde_json::Value, text: &str) -> bool {
    detail
        .as_object()
        .is_some_and(|o| o.values().any(|v| v.as_str().is_some_and(|s| contains(s, text))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: EventKind, subject: &str, at: &str, detail: serde_json::Value) -> Event {
        Event {
            revision: 1,
            at: at.to_owned(),
            kind,
            subject: subject.to_owned(),
            detail,
        }
    }

    #[test]
    fn filters_by_kind_text_subject_time_and_chatter() {
        let audit = event(
            EventKind::Audit,
            "694d8b0ee8ec6c0a",
            "2026-12-01T10:02:00Z",
            json!({"who": "Alice", "action": "revoke_lease"}),
        );
        let lock = event(
            EventKind::LockAcquired,
            "jobs",
            "2026-12-01T10:05:00Z",
            json!({"key": "jobs/1"}),
        );
        let all = EventFilter::default();
        assert!(all.is_empty() && all.matches(&audit) && all.matches(&lock));

        let by_kind = EventFilter::from_pairs([("kind", "audit,lease_expired")]).unwrap_or_default();
        assert!(by_kind.matches(&audit) && !by_kind.matches(&lock));
        let text = EventFilter::from_pairs([("q", "alice")]).unwrap_or_default();
        assert!(text.matches(&audit) && !text.matches(&lock), "detail text, any case");
        let quiet = EventFilter::from_pairs([("hide", "lock_chatter")]).unwrap_or_default();
        assert!(quiet.matches(&audit) && !quiet.matches(&lock));
        let subject = EventFilter {
            subject: Some("jobs".to_owned()),
            ..EventFilter::default()
        };
        assert!(!subject.matches(&audit) && subject.matches(&lock));
        let window = EventFilter {
            from: Some("2026-12-01T10:03:00Z".to_owned()),
            until: Some("2026-12-01T10:05:00Z".to_owned()),
            ..EventFilter::default()
        };
        assert!(!window.matches(&audit) && window.matches(&lock), "both ends included");

        assert!(EventFilter::from_pairs([("kind", "coffee")]).is_err());
        assert!(EventFilter::from_pairs([("hide", "everything")]).is_err());
    }

    #[test]
    fn a_filter_survives_its_query_string() {
        let filter = EventFilter {
            kinds: vec![EventKind::Audit, EventKind::LeaseExpired],
            text: "pay ments".to_owned(),
            subject: Some("/a/b".to_owned()),
            hide_lock_chatter: true,
            from: None,
            until: None,
        };
        let query = filter.to_query();
        assert_eq!(
            query,
            "kind=audit,lease_expired&q=pay%20ments&subject=%2Fa%2Fb&hide=lock_chatter"
        );
        let decoded: Vec<(String, String)> = query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.replace("%20", " ").replace("%2F", "/")))
            .collect();
        let back = EventFilter::from_pairs(decoded.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(back, Ok(filter));
    }
}
