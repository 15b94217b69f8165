//! The status bar on every page: how the browser and the server are
//! connected, the revision the page shows, and etcd's active alarms (a chip
//! that leads to the operations console).

use leptos::prelude::*;

use crate::live::{LinkState, Live};
use crate::model::{Alarm, EtcdState, Topic};

/// The active alarms in words, each with the members that raised it, in
/// the members' order: `NOSPACE on member-1, member-2; CORRUPT on member-3`.
/// Built without sorting: a sort of a new type is code in the first module.
fn alarms_text<'a>(members: impl Iterator<Item = (&'a str, &'a [Alarm])> + Clone) -> String {
    let mut text = String::new();
    for alarm in [Alarm::NoSpace, Alarm::Corrupt] {
        let mut first = true;
        for (name, _) in members.clone().filter(|(_, alarms)| alarms.contains(&alarm)) {
            if first {
                if !text.is_empty() {
                    text.push_str("; ");
                }
                text.push_str(alarm.as_str());
                text.push_str(" on ");
                first = false;
            } else {
                text.push_str(", ");
            }
            text.push_str(name);
        }
    }
    text
}

/// `(data-state, words)` for the current link states.
fn describe(link: LinkState, etcd: Option<EtcdState>) -> (&'static str, String) {
    match (link, etcd) {
        (LinkState::Connecting, _) => ("connecting", "Connecting to Leasehold…".to_owned()),
        (LinkState::Retrying { attempt }, _) => (
            "offline",
            format!("Connection to Leasehold lost — retrying (attempt {attempt})"),
        ),
        (LinkState::SignedOut, _) => ("signed-out", "Signed out — sign in to see the registry".to_owned()),
        (LinkState::Open, None) => ("connecting", "Connected to Leasehold, waiting for etcd…".to_owned()),
        (LinkState::Open, Some(EtcdState::Connected)) => ("connected", "Connected to etcd".to_owned()),
        (LinkState::Open, Some(EtcdState::Reconnecting)) => (
            "reconnecting",
            "etcd unreachable — reconnecting; showing the last known state".to_owned(),
        ),
        (LinkState::Open, Some(EtcdState::Resyncing)) => ("resyncing", "Resyncing with etcd…".to_owned()),
    }
}

#[component]
pub fn StatusBar() -> impl IntoView {
    let live = Live::get();
    let state = Memo::new(move |_| describe(live.link.get(), live.etcd.get()));
    let query = leptos_router::hooks::use_query_map();
    let past = Memo::new(move |_| query.with(|q| q.get("rev").is_some() || q.get("at").is_some()));
    // A few members' status: small enough to follow on every page.
    live.watch(Topic::Ops);
    let alarms = Memo::new(move |_| {
        live.ops.with(|v| {
            v.as_ref()
                .map(|v| alarms_text(v.members.values().map(|m| (m.name.as_str(), m.alarms.as_slice()))))
                .unwrap_or_default()
        })
    });
    view! {
        // Only the link's state is a live region: the revision moves all the time.
        <footer class="status-bar">
            <span
                class=move || format!("status-dot {}", state.get().0)
                aria-hidden="true"
            ></span>
            <span data-testid="status-etcd" role="status" data-state=move || state.get().0>
                {move || state.get().1}
            </span>
            {move || {
                live.etcd_error
                    .get()
                    .map(|why| view! { <span class="status-error" data-testid="status-etcd-error" title=why.clone()>{why.clone()}</span> })
            }}
            {move || {
                let text = alarms.get();
                (!text.is_empty()).then(|| view! {
                    <a class="alarm-chip" href="/ops" data-testid="alarm-chip">{text}</a>
                })
            }}
            <span class="status-revision">
                // A page of the past (`pages::past`) shows another revision: this one is live.
                {move || if past.get() { "live at revision " } else { "as of revision " }}
                <span data-testid="status-revision">{move || live.revision.get()}</span>
            </span>
            {move || {
                live.last_error
                    .get()
                    .map(|message| view! { <span class="status-error">{message}</span> })
            }}
        </footer>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_are_named_with_their_members() {
        let text = |members: &[(&str, &[Alarm])]| alarms_text(members.iter().copied());
        assert_eq!(text(&[("member-1", &[])]), "");
        assert_eq!(
            text(&[("member-1", &[Alarm::NoSpace]), ("member-2", &[])]),
            "NOSPACE on member-1"
        );
        assert_eq!(
            text(&[
                ("member-1", &[Alarm::NoSpace]),
                ("member-3", &[Alarm::Corrupt]),
                ("member-2", &[Alarm::NoSpace]),
            ]),
            "NOSPACE on member-1, member-2; CORRUPT on member-3"
        );
    }
}
