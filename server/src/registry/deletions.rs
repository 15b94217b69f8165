//! What deleted a key, told from the timeline: a lease's end at the
//! deletion's revision, an operator's action through Leasehold (the audit
//! events carry the revision etcd answered at), or, where the timeline
//! covers the revision and saw neither, a client's delete.

use std::collections::VecDeque;

use app::model::{DeletionCause, Event, EventKind, LeaseId, Revision};

use super::store::Store;

/// Relists remembered; an older one moves the start of what is known.
const GAPS_KEPT: usize = 64;

/// The revisions the timeline saw one by one: after the first list, except
/// where a relist (after a lost watch or a compaction) took the place of
/// the revisions in between.
#[derive(Debug, Default)]
pub struct Watched {
    /// The first list's revision (0: none yet).
    start: Revision,
    /// `(from, to]`: revisions a relist summed up.
    gaps: VecDeque<(Revision, Revision)>,
}

impl Watched {
    /// A list at `revision` with nothing known before it.
    pub fn start(&mut self, revision: Revision) {
        self.start = revision;
        self.gaps.clear();
    }

    /// A relist at `to` after the model was at `from`.
    pub fn missed(&mut self, from: Revision, to: Revision) {
        if to <= from {
            return;
        }
        if self.gaps.len() == GAPS_KEPT {
            if let Some((_, end)) = self.gaps.pop_front() {
                self.start = self.start.max(end);
            }
        }
        self.gaps.push_back((from, to));
    }

    /// Whether the events of `revision` were seen one by one.
    pub fn saw(&self, revision: Revision) -> bool {
        self.start > 0
            && revision > self.start
            && !self.gaps.iter().any(|(from, to)| revision > *from && revision <= *to)
    }
}

/// A deleted key as the timeline is asked about it.
#[derive(Debug, Clone)]
pub struct Deletion {
    /// The key's id.
    pub key: String,
    /// The lease it was on (0: none).
    pub lease: i64,
    pub revision: Revision,
}

/// What the timeline says of one deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Told {
    pub cause: DeletionCause,
    pub who: Option<String>,
    /// When, where an event says.
    pub at: Option<String>,
}

/// Whether an audit event is a successful action at `revision` on `key`
/// or on `lease`.
fn action_at(event: &Event, revision: Revision, key: &str, lease: i64) -> bool {
    let detail = &event.detail;
    if event.kind != EventKind::Audit || detail["result"] != "ok" || detail["revision"] != revision {
        return false;
    }
    let on_key = detail["key"].as_str() == Some(key);
    let on_lease = lease != 0
        && detail["lease"]
            .as_str()
            .and_then(|l| l.parse::<LeaseId>().ok())
            .is_some_and(|l| l.0 == lease);
    on_key || on_lease
}

fn who(event: &Event) -> Option<String> {
    event.detail["who"].as_str().map(str::to_owned)
}

impl Store {
    /// What the timeline says of each deletion, in order.
    pub fn deletion_causes(&self, deletions: &[Deletion]) -> Vec<Told> {
        self.view(|view| {
            let events = &view.model.events;
            // The timeline has every event of a revision it saw one by one
            // and has not let go of since.
            let saw = |revision: Revision| view.model.watched.saw(revision) && revision > events.kept_after();
            // The events of the deletions' revisions, found in one pass.
            let revisions = deletions.iter().map(|d| d.revision).collect();
            let at = events.at_revisions(&revisions);
            deletions
                .iter()
                .map(|d| {
                    let hex = LeaseId(d.lease).to_string();
                    let of_revision = at.get(&d.revision).map(Vec::as_slice).unwrap_or_default();
                    let lease_end = of_revision.iter().copied().find(|e| {
                        d.lease != 0
                            && e.subject == hex
                            && matches!(e.kind, EventKind::LeaseExpired | EventKind::LeaseRevoked)
                    });
                    let action = of_revision
                        .iter()
                        .copied()
                        .find(|e| action_at(e, d.revision, &d.key, d.lease));
                    match (lease_end, action) {
                        (Some(end), _) if end.kind == EventKind::LeaseExpired => Told {
                            cause: DeletionCause::LeaseExpired,
                            who: None,
                            at: Some(end.at.clone()),
                        },
                        (Some(end), action) => Told {
                            cause: DeletionCause::LeaseRevoked,
                            who: action.and_then(who),
                            at: Some(end.at.clone()),
                        },
                        (None, Some(action)) => Told {
                            cause: DeletionCause::Operator,
                            who: who(action),
                            at: Some(action.at.clone()),
                        },
                        (None, None) if saw(d.revision) => Told {
                            cause: DeletionCause::Delete,
                            who: None,
                            at: None,
                        },
                        (None, None) => Told {
                            cause: DeletionCause::Unknown,
                            who: None,
                            at: None,
                        },
                    }
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Watched;

    #[test]
    fn revisions_a_relist_summed_up_were_not_seen_one_by_one() {
        let mut watched = Watched::default();
        assert!(!watched.saw(5), "nothing listed yet");
        watched.start(10);
        assert!(!watched.saw(10) && watched.saw(11));
        watched.missed(20, 30);
        assert!(watched.saw(20) && !watched.saw(21) && !watched.saw(30) && watched.saw(31));
        watched.start(40);
        assert!(!watched.saw(31), "another history");
        for i in 0..super::GAPS_KEPT + 1 {
            let from = 50 + 10 * i64::try_from(i).unwrap_or(0);
            watched.missed(from, from + 5);
        }
        assert!(!watched.saw(45), "before the oldest gap kept");
        assert!(watched.saw(59 + 10 * 10));
    }
}
