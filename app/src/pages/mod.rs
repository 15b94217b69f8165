//! One page per file.

pub mod cluster;
pub mod elections;
pub mod events;
pub mod leases;
pub mod locks;
pub mod not_found;
pub mod service;
pub mod services;

use leptos::prelude::*;

/// The text of an `<input>` event.
pub(crate) fn input_text(ev: &leptos::ev::Event) -> String {
    event_target_value(ev)
}

/// "Connecting…" while a topic's snapshot has not arrived.
#[component]
pub(crate) fn Loading() -> impl IntoView {
    view! { <p class="loading">"Connecting…"</p> }
}
