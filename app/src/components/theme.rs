//! Light or dark: follows the OS until the operator chooses, and remembers
//! the choice in the browser's local storage.

use leptos::prelude::*;

#[cfg(feature = "hydrate")]
const KEY: &str = "leasehold-theme";

#[cfg(feature = "hydrate")]
fn root() -> Option<leptos::web_sys::Element> {
    leptos::web_sys::window()?.document()?.document_element()
}

/// Applies the remembered theme, if any (browser only).
pub fn restore() {
    #[cfg(feature = "hydrate")]
    {
        let stored = leptos::web_sys::window()
            .and_then(|w| w.local_storage().ok().flatten())
            .and_then(|s| s.get_item(KEY).ok().flatten());
        if let (Some(theme), Some(root)) = (stored, root()) {
            let _ = root.set_attribute("data-theme", &theme);
        }
    }
}

/// The theme in effect now: the chosen one, else what the OS prefers.
#[cfg(feature = "hydrate")]
fn current() -> &'static str {
    let chosen = root().and_then(|r| r.get_attribute("data-theme"));
    match chosen.as_deref() {
        Some("dark") => "dark",
        Some("light") => "light",
        _ => {
            let prefers_dark = leptos::web_sys::window()
                .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
                .is_some_and(|m| m.matches());
            if prefers_dark {
                "dark"
            } else {
                "light"
            }
        }
    }
}

#[component]
pub fn ThemeToggle() -> impl IntoView {
    let toggle = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let next = if current() == "dark" { "light" } else { "dark" };
            if let Some(root) = root() {
                let _ = root.set_attribute("data-theme", next);
            }
            if let Some(storage) = leptos::web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
                let _ = storage.set_item(KEY, next);
            }
        }
    };
    view! {
        <button type="button" class="theme" aria-label="Switch between light and dark" title="Light or dark" on:click=toggle>
            "◐"
        </button>
    }
}
