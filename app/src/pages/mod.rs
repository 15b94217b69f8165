//! One page per file.

pub mod cluster;
pub mod config;
pub mod config_travel;
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

/// `text` in lower case, for the filters. In the browser, text that is not
/// ASCII is lowered by JavaScript's `toLowerCase` (Unicode's mapping, as Rust's):
/// `str::to_lowercase` would put its Unicode tables (16 KiB) into the wasm.
pub(crate) fn lowercase(text: &str) -> String {
    #[cfg(feature = "hydrate")]
    {
        if text.is_ascii() {
            text.to_ascii_lowercase()
        } else {
            String::from(js_sys::JsString::from(text).to_lower_case())
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        text.to_lowercase()
    }
}

/// "Connecting…" while a topic's snapshot has not arrived.
#[component]
pub(crate) fn Loading() -> impl IntoView {
    view! { <p class="loading">"Connecting…"</p> }
}
