//! Snapshots: each member's "Download snapshot" is a plain link to
//! `GET /api/v1/ops/snapshot?member=ID`, so the browser streams the file to
//! disk itself; meanwhile the page asks `GET /api/v1/ops/snapshots` every
//! second and shows how far each download got, the revision it holds, and
//! once done the file's SHA-256 (to compare with the file's own) or why it
//! stopped.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{member_name, refused};
use crate::components::copy::CopyButton;
use crate::components::time::clock_time;
use crate::live::api::get_json;
use crate::live::Live;
use crate::model::human_bytes;
use crate::model::{MemberId, SnapshotRecord, SnapshotState, SnapshotsBody};

/// How long a started download may take to show up in the list before the
/// page says the server did not start it.
const AWAIT_MS: f64 = 15_000.0;

/// Why this tab may not take snapshots; `None` when it may. A snapshot holds
/// every key and value: operators only, never under `--read-only`.
pub(super) fn snapshot_refusal(live: Live) -> Option<&'static str> {
    live.me.with(|me| match me {
        None => Some("Checking whether you may take snapshots…"),
        Some(me) if me.read_only => Some("This Leasehold runs read-only: no snapshot can be taken through it."),
        Some(me) if !me.may_revoke() => {
            Some("A snapshot holds every key and value, secrets included: only an operator may take one.")
        }
        Some(_) => None,
    })
}

/// A download started from this page, until its record shows up.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Awaiting {
    member: MemberId,
    /// The newest record id known when it started: its record is newer.
    after: u64,
    since_ms: f64,
}

/// The snapshots as the server lists them, and which one this page started.
#[derive(Clone, Copy)]
pub(super) struct Tracker {
    live: Live,
    list: RwSignal<Option<Result<Vec<SnapshotRecord>, String>>>,
    awaiting: RwSignal<Option<Awaiting>>,
    /// The record of the download this page started last.
    mine: RwSignal<Option<u64>>,
    /// A download that never showed up, in words.
    note: RwSignal<Option<String>>,
    /// A listing is under way or due: one loop at a time.
    polling: RwSignal<bool>,
}

/// What a listing decides.
#[derive(Debug, Clone, PartialEq)]
struct Settled {
    /// The awaited download's record, when it showed up.
    found: Option<u64>,
    awaiting: Option<Awaiting>,
    /// The member whose download did not show up in time.
    gave_up: Option<MemberId>,
    /// Ask again in a second.
    again: bool,
}

fn settle(records: &[SnapshotRecord], awaiting: Option<Awaiting>, now_ms: f64) -> Settled {
    let mut settled = Settled {
        found: None,
        awaiting,
        gave_up: None,
        again: false,
    };
    if let Some(a) = awaiting {
        settled.found = records
            .iter()
            .filter(|r| r.member == a.member && r.id > a.after)
            .map(|r| r.id)
            .max();
        if settled.found.is_some() {
            settled.awaiting = None;
        } else if now_ms - a.since_ms > AWAIT_MS {
            settled.awaiting = None;
            settled.gave_up = Some(a.member);
        }
    }
    settled.again = settled.awaiting.is_some() || records.iter().any(|r| r.state == SnapshotState::Running);
    settled
}

impl Tracker {
    pub(super) fn new(live: Live) -> Tracker {
        Tracker {
            live,
            list: RwSignal::new(None),
            awaiting: RwSignal::new(None),
            mine: RwSignal::new(None),
            note: RwSignal::new(None),
            polling: RwSignal::new(false),
        }
    }

    /// A download of `member`'s snapshot has just been asked for.
    fn started(self, member: MemberId) {
        let after = self.list.with_untracked(|l| {
            l.as_ref()
                .and_then(|l| l.as_ref().ok())
                .and_then(|l| l.iter().map(|r| r.id).max())
                .unwrap_or(0)
        });
        self.note.set(None);
        self.awaiting.set(Some(Awaiting {
            member,
            after,
            since_ms: self.live.now_ms.get_untracked(),
        }));
        self.refresh();
    }

    /// Lists the snapshots now, and every second while one runs or is awaited.
    fn refresh(self) {
        if self.polling.try_get_untracked() != Some(false) {
            return;
        }
        self.polling.set(true);
        self.tick();
    }

    fn tick(self) {
        spawn_local(async move {
            let answer = get_json::<SnapshotsBody>("/api/v1/ops/snapshots").await;
            // The page was left meanwhile: nothing to show it on.
            let Some(awaiting) = self.awaiting.try_get_untracked() else {
                return;
            };
            let again = match answer {
                Ok(body) => {
                    let settled = settle(&body.snapshots, awaiting, self.live.now_ms.get_untracked());
                    if let Some(id) = settled.found {
                        self.mine.set(Some(id));
                    }
                    if let Some(member) = settled.gave_up {
                        self.note.set(Some(format!(
                            "No snapshot of {} started: the server refused it (a snapshot is refused under --prefix) or etcd did not answer. The browser's download says why.",
                            member_name(self.live, member)
                        )));
                    }
                    self.awaiting.set(settled.awaiting);
                    self.list.set(Some(Ok(body.snapshots)));
                    settled.again
                }
                Err(failure) => {
                    self.list.set(Some(Err(refused(&failure).1)));
                    awaiting.is_some()
                }
            };
            if again {
                set_timeout(move || self.tick(), Duration::from_secs(1));
            } else {
                self.polling.set(false);
            }
        });
    }
}

/// A member's "Download snapshot": the link, or the reason it is not offered.
#[component]
pub(super) fn SnapshotLink(id: MemberId, tracker: Tracker) -> impl IntoView {
    let live = Live::get();
    move || match snapshot_refusal(live) {
        None => view! {
            <a
                class="button"
                href=format!("/api/v1/ops/snapshot?member={id}")
                download=""
                data-testid="snapshot-download"
                on:click=move |_| tracker.started(id)
            >
                "Download snapshot"
            </a>
        }
        .into_any(),
        Some(why) => view! {
            <button type="button" disabled=true title=why data-testid="snapshot-download">
                "Download snapshot"
            </button>
        }
        .into_any(),
    }
}

fn state_name(state: SnapshotState) -> &'static str {
    match state {
        SnapshotState::Running => "running",
        SnapshotState::Done => "done",
        SnapshotState::Failed => "failed",
        SnapshotState::Aborted => "aborted",
    }
}

fn state_words(state: SnapshotState) -> &'static str {
    match state {
        SnapshotState::Running => "downloading",
        SnapshotState::Done => "done",
        SnapshotState::Failed => "failed: etcd's stream broke off, the file is incomplete",
        SnapshotState::Aborted => "aborted: the download stopped before the end",
    }
}

fn bytes(n: u64) -> String {
    human_bytes(i64::try_from(n).unwrap_or(i64::MAX))
}

/// `12.0 MiB of 16.0 MiB (75%)`, or what was sent so far.
fn progress_text(sent: u64, expected: Option<u64>) -> String {
    match expected {
        Some(all) if all > 0 => {
            let percent = (sent as f64 / all as f64 * 100.0).clamp(0.0, 100.0);
            format!("{} of {} ({percent:.0}%)", bytes(sent), bytes(all))
        }
        _ => format!("{} so far", bytes(sent)),
    }
}

fn record_view(r: SnapshotRecord, mine: bool) -> impl IntoView {
    let state = state_name(r.state);
    let exact = match r.expected_bytes {
        Some(all) => format!("{} of {all} bytes", r.bytes),
        None => format!("{} bytes", r.bytes),
    };
    let started = clock_time(&r.started_at).unwrap_or_else(|| r.started_at.clone());
    view! {
        <div class="snapshot-head">
            <strong>{r.name.clone()}</strong>
            " at revision "
            <strong data-testid="snapshot-revision">{r.revision}</strong>
            " "
            <span class=format!("snapshot-state {state}") data-testid="snapshot-state">{state_words(r.state)}</span>
            {mine.then(|| view! { " " <span class="badge">"this download"</span> })}
            <span class="muted">{format!(" — by {}, started {started}", r.who)}</span>
        </div>
        {(r.state == SnapshotState::Running).then(|| view! {
            <progress
                max=r.expected_bytes.map(|all| all.to_string())
                value=r.expected_bytes.map(|_| r.bytes.to_string())
                aria-label=format!("Snapshot of {}", r.name)
            ></progress>
        })}
        <div class="muted" data-testid="snapshot-progress" title=exact>{progress_text(r.bytes, r.expected_bytes)}</div>
        {r.sha256.clone().map(|sha| {
            let copied = sha.clone();
            view! {
                <div class="sha-line">
                    "SHA-256 "
                    <code class="sha" data-testid="snapshot-sha256">{sha}</code>
                    " "
                    <CopyButton text=copied label="SHA-256"/>
                </div>
            }
        })}
        {r.error.clone().map(|e| view! { <div class="error" data-testid="snapshot-error">{e}</div> })}
    }
}

/// One snapshot, keyed by its id: it changes in place as it progresses.
#[component]
fn SnapshotItem(id: u64, tracker: Tracker) -> impl IntoView {
    let record = Memo::new(move |_| {
        tracker.list.with(|l| {
            l.as_ref()
                .and_then(|l| l.as_ref().ok())
                .and_then(|l| l.iter().find(|r| r.id == id).cloned())
        })
    });
    let mine = Memo::new(move |_| tracker.mine.get() == Some(id));
    let state = move || record.with(|r| r.as_ref().map_or("", |r| state_name(r.state)));
    view! {
        <li
            class=move || format!("snapshot {}", if mine.get() { "mine" } else { "" })
            data-testid="snapshot"
            data-id=id.to_string()
            data-state=state
            data-mine=move || if mine.get() { "true" } else { "false" }
        >
            {move || record.get().map(|r| record_view(r, mine.get()))}
        </li>
    }
}

/// The latest snapshots (operators only: the server lists none to a viewer).
#[component]
pub(super) fn Snapshots(tracker: Tracker) -> impl IntoView {
    let live = Live::get();
    let allowed = Memo::new(move |_| snapshot_refusal(live).is_none());
    Effect::new(move |_| {
        if allowed.get() {
            tracker.refresh();
        }
    });
    let ids = Memo::new(move |_| {
        tracker.list.with(|l| {
            l.as_ref()
                .and_then(|l| l.as_ref().ok())
                .map(|l| l.iter().map(|r| r.id).collect::<Vec<u64>>())
        })
    });
    let listing = move || {
        match tracker.list.with(|l| l.as_ref().map(|l| l.as_ref().err().cloned())) {
        None => view! { <p class="loading">"Reading the snapshots…"</p> }.into_any(),
        Some(Some(why)) => view! { <p class="error" role="alert">{why}</p> }.into_any(),
        Some(None) if ids.with(|ids| ids.as_ref().is_none_or(Vec::is_empty)) => view! {
            <p class="empty" data-testid="snapshots-empty">"No snapshot was taken through this Leasehold since it started."</p>
        }
        .into_any(),
        Some(None) => view! {
            <ol class="snapshots" data-testid="snapshot-list">
                <For each=move || ids.get().unwrap_or_default() key=|id| *id let:id>
                    <SnapshotItem id tracker/>
                </For>
            </ol>
        }
        .into_any(),
    }
    };
    move || {
        allowed.get().then(|| view! {
            <section class="snapshots" data-testid="snapshots" aria-labelledby="snapshots-title">
                <h2 id="snapshots-title">"Snapshots"</h2>
                <p class="muted">
                    "A snapshot is a member's whole database as etcdctl snapshot save writes it (etcdutl snapshot restore takes it): every key and value, secrets included. The browser saves it as it arrives; its progress, and once done the file's SHA-256, show here."
                </p>
                {move || tracker.note.get().map(|n| view! { <p class="warn" role="alert" data-testid="snapshot-note">{n}</p> })}
                {listing}
            </section>
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u64, member: u64, state: SnapshotState) -> SnapshotRecord {
        SnapshotRecord {
            id,
            member: MemberId(member),
            name: format!("m{member}"),
            revision: 10,
            who: "ada".to_owned(),
            started_at: "2026-12-03T10:00:00Z".to_owned(),
            finished_at: None,
            state,
            bytes: 10,
            expected_bytes: Some(40),
            sha256: None,
            error: None,
        }
    }

    #[test]
    fn the_awaited_download_is_the_members_newest_record_after_the_click() {
        let awaiting = Some(Awaiting {
            member: MemberId(1),
            after: 2,
            since_ms: 1_000.0,
        });
        let records = [
            record(4, 2, SnapshotState::Done),
            record(3, 1, SnapshotState::Running),
            record(2, 1, SnapshotState::Done),
        ];
        let settled = settle(&records, awaiting, 2_000.0);
        assert_eq!(settled.found, Some(3));
        assert_eq!(settled.awaiting, None);
        // Still running: asked again.
        assert!(settled.again);
        // Not there yet: waited for, then given up.
        let older = [record(2, 1, SnapshotState::Done)];
        let waiting = settle(&older, awaiting, 2_000.0);
        assert_eq!((waiting.found, waiting.awaiting, waiting.again), (None, awaiting, true));
        let late = settle(&older, awaiting, 1_000.0 + AWAIT_MS + 1.0);
        assert_eq!(
            (late.gave_up, late.awaiting, late.again),
            (Some(MemberId(1)), None, false)
        );
        assert!(!settle(&older, None, 0.0).again);
    }

    #[test]
    fn progress_reads_as_a_share_of_what_etcd_announced() {
        assert_eq!(progress_text(3 << 20, Some(4 << 20)), "3.0 MiB of 4.0 MiB (75%)");
        assert_eq!(progress_text(512, None), "512 B so far");
        assert_eq!(progress_text(5, Some(0)), "5 B so far");
    }
}
