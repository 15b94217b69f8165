//! One member's row: its roles and health, its quota gauge, raft indexes,
//! alarms, errors, its step in the last rolling defragmentation, and its
//! actions (membership changes, a snapshot). The row
//! is keyed by member id and reads its member through a `Memo`, so updates
//! change cells, never the row.

use leptos::prelude::*;

use super::membership::{Change, MemberActions};
use super::snapshot::{SnapshotLink, Tracker};
use crate::live::Live;
use crate::model::human_bytes;
use crate::model::{Alarm, DefragState, DefragStep, MemberId, OpsMember, QuotaSource, QUOTA_WARNING};

/// How full a member's backend is: `data-level` of its gauge.
pub(super) fn level(used: Option<f64>, nospace: bool) -> &'static str {
    match used {
        _ if nospace => "danger",
        Some(used) if used >= 1.0 => "danger",
        Some(used) if used >= QUOTA_WARNING => "warning",
        Some(_) => "ok",
        None => "unknown",
    }
}

/// Where a quota was read, in words.
fn source_text(source: QuotaSource) -> &'static str {
    match source {
        QuotaSource::Status => "from the member's status",
        QuotaSource::Metrics => "from the member's /metrics",
        QuotaSource::Flag => "from --etcd-quota (the member did not say)",
        QuotaSource::Default => "etcd's default: the member did not say and no --etcd-quota was given",
    }
}

fn source_name(source: QuotaSource) -> &'static str {
    match source {
        QuotaSource::Status => "status",
        QuotaSource::Metrics => "metrics",
        QuotaSource::Flag => "flag",
        QuotaSource::Default => "default",
    }
}

pub(super) fn defrag_state_name(state: DefragState) -> &'static str {
    match state {
        DefragState::Queued => "queued",
        DefragState::Running => "running",
        DefragState::Done => "done",
        DefragState::Failed => "failed",
        DefragState::Skipped => "skipped",
    }
}

/// A share as a percentage of width, within the bar.
fn width(part: i64, whole: i64) -> String {
    let share = if whole > 0 { part as f64 / whole as f64 } else { 0.0 };
    format!("width: {:.1}%", (share * 100.0).clamp(0.0, 100.0))
}

/// The gauge's words: the size against the quota, and what is reclaimable.
fn gauge_text(m: &OpsMember) -> (String, Option<String>) {
    let Some(size) = m.db_size else {
        return (format!("size unknown, quota {}", human_bytes(m.quota_bytes)), None);
    };
    let percent = m
        .quota_used()
        .map_or_else(String::new, |u| format!(" ({:.0}%)", u * 100.0));
    let used = format!("{} of {}{percent}", human_bytes(size), human_bytes(m.quota_bytes));
    let reclaimable = m
        .reclaimable()
        .map(|r| format!("{} reclaimable by defragmentation", human_bytes(r)));
    (used, reclaimable)
}

/// The database file against the quota: the part holding data, the free
/// pages a defragmentation gives back, and where the quota was read.
#[component]
pub(super) fn QuotaGauge(member: Memo<Option<OpsMember>>) -> impl IntoView {
    let read = move |f: fn(&OpsMember) -> String| move || member.with(|m| m.as_ref().map(f).unwrap_or_default());
    let level = Memo::new(move |_| {
        member.with(|m| {
            m.as_ref()
                .map_or("unknown", |m| level(m.quota_used(), m.alarms.contains(&Alarm::NoSpace)))
        })
    });
    let texts = Memo::new(move |_| member.with(|m| m.as_ref().map(gauge_text)));
    view! {
        <div class="gauge" data-testid="quota-gauge" data-level=move || level.get()>
            <div
                class="gauge-bar"
                role="meter"
                aria-label="Database size against the quota"
                aria-valuemin="0"
                aria-valuemax=read(|m| m.quota_bytes.to_string())
                aria-valuenow=read(|m| m.db_size.unwrap_or_default().min(m.quota_bytes).to_string())
                aria-valuetext=move || texts.get().map(|t| t.0).unwrap_or_default()
            >
                <span
                    class="gauge-used"
                    style=read(|m| width(m.db_size_in_use.or(m.db_size).unwrap_or_default(), m.quota_bytes))
                ></span>
                <span
                    class="gauge-free"
                    style=read(|m| width(m.reclaimable().unwrap_or_default(), m.quota_bytes))
                ></span>
            </div>
            <div class="gauge-text" data-testid="quota-text">{move || texts.get().map(|t| t.0)}</div>
            {move || texts.get().and_then(|t| t.1).map(|r| view! {
                <div class="gauge-note" data-testid="quota-reclaimable">{r}</div>
            })}
            <div class="gauge-note" data-testid="quota-source" data-source=read(|m| source_name(m.quota_source).to_owned())>
                "quota " {read(|m| source_text(m.quota_source).to_owned())}
            </div>
        </div>
    }
}

/// A member's step in the rolling defragmentation.
fn defrag_view(step: DefragStep) -> impl IntoView {
    let name = defrag_state_name(step.state);
    let sizes = match (step.db_size_before, step.db_size_after) {
        (Some(before), Some(after)) => Some(format!("{} → {}", human_bytes(before), human_bytes(after))),
        (Some(before), None) => Some(format!("{} before", human_bytes(before))),
        _ => None,
    };
    view! {
        <span class=format!("defrag-state {name}") data-testid="defrag-state" data-state=name>
            {format!("#{} {name}", step.order)}
        </span>
        {sizes.map(|s| view! { <span class="muted" data-testid="defrag-sizes">" " {s}</span> })}
        {step.error.map(|e| view! { <div class="error" data-testid="defrag-error">{e}</div> })}
    }
}

#[component]
pub(super) fn MemberRow(id: MemberId, open: RwSignal<Option<Change>>, snapshots: Tracker) -> impl IntoView {
    let live = Live::get();
    let member = Memo::new(move |_| live.ops.with(|v| v.as_ref().and_then(|v| v.members.get(&id).cloned())));
    let cell = move |read: fn(&OpsMember) -> String| move || member.with(|m| m.as_ref().map(read).unwrap_or_default());
    let flag = move |read: fn(&OpsMember) -> bool| move || member.with(|m| m.as_ref().is_some_and(read));
    let alarms = Memo::new(move |_| member.with(|m| m.as_ref().map(|m| m.alarms.clone()).unwrap_or_default()));
    let defrag = Memo::new(move |_| member.with(|m| m.as_ref().and_then(|m| m.defrag.clone())));
    let raft = move || {
        member
            .with(|m| {
                let m = m.as_ref()?;
                let index = m.raft_index?;
                Some(match m.raft_applied_index {
                    Some(applied) if applied < index => format!("{index} ({applied}, {} behind)", index - applied),
                    Some(applied) => format!("{index} ({applied})"),
                    None => format!("{index} (—)"),
                })
            })
            .unwrap_or_else(|| "—".to_owned())
    };
    view! {
        <tr data-testid="ops-member" data-member=cell(|m| m.name.clone())>
            <td>
                <strong>{cell(|m| if m.name.is_empty() { "not started".to_owned() } else { m.name.clone() })}</strong>
                " "
                {move || flag(|m| m.is_leader)().then(|| view! {
                    <span class="badge leader" data-testid="leader-badge">"leader"</span>
                })}
                {move || flag(|m| m.is_learner)().then(|| view! {
                    <span class="badge" data-testid="learner-badge">"learner"</span>
                })}
                <div class="muted"><code data-testid="ops-endpoint">{cell(|m| m.endpoint.clone().unwrap_or_default())}</code></div>
                <div class="muted">{cell(|m| m.version.as_ref().map_or_else(String::new, |v| format!("etcd {v}")))}</div>
            </td>
            <td data-testid="ops-health">
                {move || if flag(|m| m.healthy)() {
                    view! { <span class="badge ok">"healthy"</span> }.into_any()
                } else {
                    view! { <span class="badge bad">"unhealthy"</span> }.into_any()
                }}
            </td>
            <td><QuotaGauge member/></td>
            <td class="num" data-testid="ops-raft">{raft}</td>
            <td>
                {move || {
                    let alarms = alarms.get();
                    if alarms.is_empty() {
                        view! { <span class="muted">"none"</span> }.into_any()
                    } else {
                        alarms
                            .into_iter()
                            .map(|a| view! {
                                <span class="badge alarm" data-testid="alarm" data-alarm=a.as_str()>{a.as_str()}</span>
                            })
                            .collect_view()
                            .into_any()
                    }
                }}
            </td>
            <td>{move || defrag.get().map(defrag_view)}</td>
            <td class="errors" data-testid="ops-errors">{cell(|m| m.errors.join("; "))}</td>
            <td>
                <div class="member-actions">
                    <MemberActions member open/>
                    <SnapshotLink id tracker=snapshots/>
                </div>
            </td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DEFAULT_QUOTA_BYTES;

    fn member(db_size: Option<i64>, in_use: Option<i64>, quota: i64) -> OpsMember {
        OpsMember {
            id: MemberId(1),
            name: "m1".to_owned(),
            endpoint: None,
            is_leader: true,
            is_learner: false,
            healthy: true,
            version: None,
            db_size,
            db_size_in_use: in_use,
            quota_bytes: quota,
            quota_source: QuotaSource::Default,
            raft_index: None,
            raft_applied_index: None,
            alarms: vec![],
            errors: vec![],
            compact_revision: None,
            defrag: None,
        }
    }

    #[test]
    fn the_gauge_warns_from_the_warning_share_and_is_in_danger_at_the_quota_or_with_nospace() {
        assert_eq!(level(Some(0.5), false), "ok");
        assert_eq!(level(Some(QUOTA_WARNING), false), "warning");
        assert_eq!(level(Some(1.0), false), "danger");
        assert_eq!(level(Some(0.1), true), "danger");
        assert_eq!(level(None, false), "unknown");
        assert_eq!(level(None, true), "danger");
    }

    #[test]
    fn the_gauge_says_the_size_against_the_quota_and_what_defragmentation_gives_back() {
        let m = member(Some(12 << 20), Some(4 << 20), 16 << 20);
        let (used, reclaimable) = gauge_text(&m);
        assert_eq!(used, "12.0 MiB of 16.0 MiB (75%)");
        assert_eq!(reclaimable.as_deref(), Some("8.0 MiB reclaimable by defragmentation"));
        let (used, reclaimable) = gauge_text(&member(None, None, DEFAULT_QUOTA_BYTES));
        assert_eq!(used, "size unknown, quota 2.0 GiB");
        assert_eq!(reclaimable, None);
    }

    #[test]
    fn bars_stay_within_the_gauge() {
        assert_eq!(width(1, 4), "width: 25.0%");
        assert_eq!(width(5, 4), "width: 100.0%");
        assert_eq!(width(1, 0), "width: 0.0%");
    }
}
