//! A modal dialog that keyboards can use: a real `<dialog>` opened with
//! `showModal()`, so the page behind is inert; focus moves into it when it
//! opens, Tab and Shift+Tab go round inside it, Escape closes it, and focus
//! goes back to what opened it when it closes.

use leptos::html;
use leptos::prelude::*;

/// What may take focus inside a dialog, in document order.
#[cfg(feature = "hydrate")]
const FOCUSABLE: &str =
    "button:not([disabled]), input:not([disabled]), textarea:not([disabled]), select:not([disabled]), a[href], [tabindex]:not([tabindex='-1'])";

/// A modal dialog around `children`. `labelled_by` is the id of its
/// heading; `on_close` runs on Escape (and is what its Cancel calls).
#[component]
pub fn Modal(
    labelled_by: &'static str,
    #[prop(into)] testid: String,
    on_close: Callback<()>,
    children: Children,
) -> impl IntoView {
    let dialog = NodeRef::<html::Dialog>::new();
    #[cfg(feature = "hydrate")]
    {
        use std::cell::RefCell;
        use std::rc::Rc;
        use wasm_bindgen::JsCast;
        // What had focus when the dialog opened: it gets it back.
        let opener = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.active_element())
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
        // The element, for closing it before it leaves: while a modal dialog
        // is open the page behind it cannot take focus.
        let shown: Rc<RefCell<Option<web_sys::HtmlDialogElement>>> = Rc::default();
        let keep = shown.clone();
        dialog.on_load(move |element| {
            if !element.open() {
                let _ = element.show_modal();
            }
            // The first control takes focus (browsers differ: some focus
            // the dialog itself when nothing in it has `autofocus`).
            let inside = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.active_element())
                .is_some_and(|a| element.contains(Some(&a)) && !element.is_same_node(Some(&a)));
            if !inside {
                if let Some(first) = element
                    .query_selector(FOCUSABLE)
                    .ok()
                    .flatten()
                    .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
                {
                    let _ = first.focus();
                }
            }
            *keep.borrow_mut() = Some(element);
        });
        let on_leave = send_wrapper::SendWrapper::new(move || {
            if let Some(element) = shown.borrow_mut().take() {
                if element.open() {
                    element.close();
                }
            }
            if let Some(opener) = opener.as_ref().filter(|o| o.is_connected()) {
                let _ = opener.focus();
            }
        });
        on_cleanup(move || on_leave.take()());
    }
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        #[cfg(feature = "hydrate")]
        if ev.key() == "Tab" {
            if let Some(element) = dialog.get_untracked() {
                keep_focus_inside(&element, &ev);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    // Escape makes the browser cancel the dialog: the page decides what
    // closing means (it removes the dialog), so the browser's own close is
    // prevented.
    let on_cancel = move |ev: leptos::ev::Event| {
        ev.prevent_default();
        on_close.run(());
    };
    view! {
        <dialog
            class="dialog"
            node_ref=dialog
            aria-labelledby=labelled_by
            data-testid=testid
            on:keydown=on_keydown
            on:cancel=on_cancel
        >
            {children()}
        </dialog>
    }
}

/// Moves focus round: Tab on the last control goes to the first, Shift+Tab
/// on the first to the last.
#[cfg(feature = "hydrate")]
fn keep_focus_inside(dialog: &web_sys::HtmlDialogElement, ev: &leptos::ev::KeyboardEvent) {
    use wasm_bindgen::JsCast;
    let Ok(list) = dialog.query_selector_all(FOCUSABLE) else {
        return;
    };
    let controls: Vec<web_sys::HtmlElement> = (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        .collect();
    let (Some(first), Some(last)) = (controls.first(), controls.last()) else {
        ev.prevent_default();
        return;
    };
    let active = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element());
    let inside = active
        .as_ref()
        .is_some_and(|a| controls.iter().any(|c| c.is_same_node(Some(a))));
    let at = |control: &web_sys::HtmlElement| active.as_ref().is_some_and(|a| control.is_same_node(Some(a)));
    let target = match (ev.shift_key(), inside) {
        (_, false) => Some(first),
        (false, true) if at(last) => Some(first),
        (true, true) if at(first) => Some(last),
        _ => None,
    };
    if let Some(target) = target {
        ev.prevent_default();
        let _ = target.focus();
    }
}
