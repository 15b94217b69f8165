//! Which revision was etcd's at a given time: the model notes its revision
//! as it moves, coarsely, so that "keep the last hour" can name a revision.
//!
//! etcd keeps no time with revisions. What Leasehold saw is the best
//! answer there is: the revision the model had reached at a time was
//! current then (it may have been reached a little earlier, never later).

use std::collections::VecDeque;

use app::model::Revision;

/// One note per this many seconds at most.
const STEP_SECONDS: u64 = 10;
/// Notes kept: a little over 24 hours at one per [`STEP_SECONDS`].
const NOTES: usize = 9_000;

/// `(unix seconds, revision)` notes, oldest first; bounded.
#[derive(Debug, Default)]
pub struct RevisionClock {
    notes: VecDeque<(u64, Revision)>,
}

impl RevisionClock {
    /// The model is at `revision` at `now` (unix seconds).
    pub fn note(&mut self, now: u64, revision: Revision) {
        match self.notes.back_mut() {
            Some((_, last)) if *last >= revision => {}
            // Within the step the note moves on, time and revision: a note
            // is a revision and a time it was current at, so an answer is
            // never newer than the revision of its time.
            Some((at, last)) if now / STEP_SECONDS == *at / STEP_SECONDS => (*at, *last) = (now, revision),
            _ => {
                if self.notes.len() == NOTES {
                    self.notes.pop_front();
                }
                self.notes.push_back((now, revision));
            }
        }
    }

    /// The newest revision known to have been current at or before `at`;
    /// `None` when `at` is older than every note (Leasehold was not watching).
    pub fn revision_at(&self, at: u64) -> Option<Revision> {
        let after = self.notes.partition_point(|(noted, _)| *noted <= at);
        after
            .checked_sub(1)
            .and_then(|i| self.notes.get(i))
            .map(|(_, rev)| *rev)
    }

    /// The oldest revision noted: Leasehold watched from it on (within the
    /// notes it keeps).
    pub fn oldest_revision(&self) -> Option<Revision> {
        self.notes.front().map(|(_, revision)| *revision)
    }

    /// When the oldest note was taken.
    pub fn since(&self) -> Option<u64> {
        self.notes.front().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::RevisionClock;

    #[test]
    fn a_time_names_the_revision_current_then() {
        let mut clock = RevisionClock::default();
        clock.note(1_000, 5);
        clock.note(1_003, 9); // the same step: the note moves on
        clock.note(1_031, 20);
        clock.note(1_032, 20); // no newer revision: nothing noted
        clock.note(1_100, 21);
        assert_eq!(clock.revision_at(999), None, "before Leasehold watched");
        assert_eq!(clock.revision_at(1_002), None, "5 was noted over by 9 at 1003");
        assert_eq!(clock.revision_at(1_003), Some(9));
        assert_eq!(clock.revision_at(1_030), Some(9));
        assert_eq!(clock.revision_at(1_031), Some(20));
        assert_eq!(clock.revision_at(5_000), Some(21));
        assert_eq!(clock.since(), Some(1_003));
    }

    #[test]
    fn notes_are_bounded() {
        let mut clock = RevisionClock::default();
        for i in 0..(super::NOTES as u64 + 50) {
            clock.note(i * 10, i as i64 + 1);
        }
        assert_eq!(clock.notes.len(), super::NOTES);
        assert_eq!(clock.since(), Some(500));
    }
}
