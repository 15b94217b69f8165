//! The WebSocket itself (browser only).

use std::cell::RefCell;
use std::time::Duration;

use leptos::prelude::{GetUntracked, Set, WithUntracked};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use super::{warn, LinkState, Live};
use crate::model::{ClientMsg, MeBody, Revision, ServerMsg, Topic};

const BACKOFF_FIRST_MS: f64 = 500.0;
const BACKOFF_CAP_MS: f64 = 10_000.0;
/// The server closes a socket with this when its sign-in ends.
const CLOSE_SIGNED_OUT: u16 = 4401;

/// The open socket and the callbacks that must live as long as it.
struct Conn {
    socket: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

thread_local! {
    static CONN: RefCell<Option<Conn>> = const { RefCell::new(None) };
    static LIVE: RefCell<Option<Live>> = const { RefCell::new(None) };
}

pub fn start(live: Live) {
    let first = LIVE.with(|l| l.borrow_mut().replace(live).is_none());
    if first {
        connect(live, 0);
    }
}

fn url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{}/api/v1/ws", location.host().ok()?))
}

fn send(message: &ClientMsg) {
    let Ok(text) = serde_json::to_string(message) else {
        return;
    };
    CONN.with(|conn| {
        if let Some(conn) = conn.borrow().as_ref() {
            if conn.socket.ready_state() == WebSocket::OPEN {
                if let Err(error) = conn.socket.send_with_str(&text) {
                    warn(&format!("websocket send failed: {error:?}"));
                }
            }
        }
    });
}

pub fn subscribe(topics: &[Topic], since: Option<Revision>) {
    send(&ClientMsg::Subscribe {
        topics: topics.to_vec(),
        since,
    });
}

pub fn unsubscribe(topics: &[Topic]) {
    send(&ClientMsg::Unsubscribe {
        topics: topics.to_vec(),
    });
}

fn connect(live: Live, attempt: u32) {
    let Some(url) = url() else {
        warn("no window location: cannot open the live connection");
        return;
    };
    let socket = match WebSocket::new(&url) {
        Ok(socket) => socket,
        Err(error) => {
            warn(&format!("cannot open {url}: {error:?}"));
            retry(live, attempt + 1);
            return;
        }
    };

    let on_open = Closure::<dyn FnMut()>::new(move || {
        live.link.set(LinkState::Open);
        // Resume: what changed while away comes as patches where the server
        // still knows it, so the page never flashes empty. A topic whose
        // snapshot came only in part asks for a whole one again: the revision
        // says nothing of the parts it missed.
        let (partial, whole): (Vec<Topic>, Vec<Topic>) = live
            .wanted_topics()
            .into_iter()
            .partition(|topic| live.is_partial(topic));
        if !whole.is_empty() {
            let revision = live.revision.get_untracked();
            subscribe(&whole, (revision > 0).then_some(revision));
        }
        if !partial.is_empty() {
            subscribe(&partial, None);
        }
    });
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some(text) = event.data().as_string() else {
            warn("binary message from the server ignored");
            return;
        };
        match serde_json::from_str::<ServerMsg>(&text) {
            Ok(message) => live.apply(message),
            Err(error) => warn(&format!("malformed server message ignored: {error}")),
        }
    });
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
        let was_open = live.link.get_untracked() == LinkState::Open;
        let next = if was_open { 1 } else { attempt + 1 };
        if event.code() == CLOSE_SIGNED_OUT {
            live.signed_out.set(true);
            live.link.set(LinkState::SignedOut);
        } else if live.me.with_untracked(|me| me.as_ref().is_some_and(MeBody::has_login)) {
            // The upgrade may have been refused for want of a session (the
            // browser does not tell why): ask before trying again.
            leptos::task::spawn_local(async move {
                if live.ask_who().await {
                    retry(live, next);
                }
            });
        } else {
            retry(live, next);
        }
    });
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));

    let old = CONN.with(|conn| {
        conn.borrow_mut().replace(Conn {
            socket,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    });
    if let Some(old) = old {
        old.socket.set_onclose(None);
        let _ = old.socket.close();
    }
}

/// Waits (capped exponential backoff with jitter), then connects again.
fn retry(live: Live, attempt: u32) {
    live.link.set(LinkState::Retrying { attempt });
    let exponent = attempt.saturating_sub(1).min(10) as i32;
    let base = (BACKOFF_FIRST_MS * 2f64.powi(exponent)).min(BACKOFF_CAP_MS);
    let wait = base * (0.5 + js_sys::Math::random() * 0.5);
    leptos::prelude::set_timeout(move || connect(live, attempt), Duration::from_millis(wait as u64));
}
