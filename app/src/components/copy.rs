use leptos::prelude::*;

/// A small button that copies `text` to the clipboard.
#[component]
pub fn CopyButton(#[prop(into)] text: String, #[prop(into)] label: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let aria = format!("Copy {label}");
    let on_click = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(&text);
            copied.set(true);
            set_timeout(move || copied.set(false), std::time::Duration::from_millis(1200));
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    view! {
        <button type="button" class="copy" title=aria.clone() aria-label=aria on:click=on_click>
            {move || if copied.get() { "copied" } else { "copy" }}
        </button>
    }
}
