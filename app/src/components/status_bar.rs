//! The status bar on every page: how the browser and the server are
//! connected, and the revision the page shows.

use leptos::prelude::*;

use crate::live::{LinkState, Live};
use crate::model::EtcdState;

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
            <span class="status-revision">
                "as of revision "
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
