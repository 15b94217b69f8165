//! A small button that copies a text to the clipboard, says so on the
//! button ("copied") and to screen readers (a polite live region), and says
//! when the browser would not (no clipboard outside a secure context).

use leptos::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Copied {
    Not,
    Done,
    Failed,
}

/// A small button that copies `text` to the clipboard.
#[component]
pub fn CopyButton(#[prop(into)] text: String, #[prop(into)] label: String) -> impl IntoView {
    let state = RwSignal::new(Copied::Not);
    let aria = format!("Copy {label}");
    let announce = {
        let label = label.clone();
        move || match state.get() {
            Copied::Not => String::new(),
            Copied::Done => format!("Copied the {label}"),
            Copied::Failed => format!("Could not copy the {label}: this browser allows it only on https or localhost"),
        }
    };
    let on_click = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let text = text.clone();
            leptos::task::spawn_local(async move {
                let copied = write_to_clipboard(&text).await;
                state.set(if copied { Copied::Done } else { Copied::Failed });
                set_timeout(move || state.set(Copied::Not), std::time::Duration::from_millis(1500));
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    view! {
        <button type="button" class="copy" title=aria.clone() aria-label=aria on:click=on_click>
            {move || match state.get() {
                Copied::Not => "copy",
                Copied::Done => "copied",
                Copied::Failed => "not copied",
            }}
        </button>
        <span class="sr-only" role="status">{announce}</span>
    }
}

/// Writes `text` to the clipboard; `false` when the browser has none here
/// (pages over plain http on another host) or refused.
#[cfg(feature = "hydrate")]
async fn write_to_clipboard(text: &str) -> bool {
    use wasm_bindgen::JsCast;
    let Some(window) = web_sys::window() else {
        return false;
    };
    let navigator = window.navigator();
    let clipboard = js_sys::Reflect::get(&navigator, &wasm_bindgen::JsValue::from_str("clipboard"));
    let Some(clipboard) = clipboard.ok().and_then(|c| c.dyn_into::<web_sys::Clipboard>().ok()) else {
        return false;
    };
    wasm_bindgen_futures::JsFuture::from(clipboard.write_text(text))
        .await
        .is_ok()
}
