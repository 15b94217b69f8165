//! The WebSocket itself (browser only).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

use leptos::prelude::{GetUntracked, Set, WithUntracked};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, CloseEvent, MessageEvent, ReadableStream, ReadableWritablePair, WebSocket, WritableStream};

use super::{warn, LinkState, Live};
use crate::model::{ClientMsg, MeBody, Revision, ServerMsg, Topic, CLOSE_SIGNED_OUT};

const BACKOFF_FIRST_MS: f64 = 500.0;
const BACKOFF_CAP_MS: f64 = 10_000.0;

/// The open socket and the callbacks that must live as long as it.
struct Conn {
    socket: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

// The browser's `DecompressionStream` (web-sys has it only behind its
// unstable-API flag).
#[wasm_bindgen]
extern "C" {
    type DecompressionStream;
    #[wasm_bindgen(constructor, catch)]
    fn new(format: &str) -> Result<DecompressionStream, JsValue>;
    #[wasm_bindgen(method, getter)]
    fn readable(this: &DecompressionStream) -> ReadableStream;
    #[wasm_bindgen(method, getter)]
    fn writable(this: &DecompressionStream) -> WritableStream;
}

/// Messages waiting behind a gzipped one that is still being inflated, so
/// that every message is applied in the order the server sent it.
#[derive(Default)]
struct Inbox {
    queue: VecDeque<Incoming>,
    /// A task is working through `queue`.
    busy: bool,
}

enum Incoming {
    Text(String),
    Gzip(Blob),
}

thread_local! {
    static CONN: RefCell<Option<Conn>> = const { RefCell::new(None) };
    static LIVE: RefCell<Option<Live>> = const { RefCell::new(None) };
    static INBOX: RefCell<Inbox> = RefCell::new(Inbox::default());
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
    // Large messages (snapshots) come gzipped where the browser can inflate them.
    let gzip = js_sys::Reflect::has(&js_sys::global(), &JsValue::from_str("DecompressionStream")).unwrap_or(false);
    let query = if gzip { "?compress=gzip" } else { "" };
    Some(format!("{scheme}://{}/api/v1/ws{query}", location.host().ok()?))
}

fn receive(live: Live, event: MessageEvent) {
    let data = event.data();
    let incoming = match data.as_string() {
        Some(text) => Incoming::Text(text),
        None => match data.dyn_into::<Blob>() {
            Ok(blob) => Incoming::Gzip(blob),
            Err(_) => return warn("a server message neither text nor binary was ignored"),
        },
    };
    let busy = INBOX.with(|inbox| inbox.borrow().busy);
    match incoming {
        // Nothing ahead of it: applied at once, with no task in between.
        Incoming::Text(text) if !busy => apply_text(live, &text),
        incoming => {
            INBOX.with(|inbox| {
                let mut inbox = inbox.borrow_mut();
                inbox.queue.push_back(incoming);
                inbox.busy = true;
            });
            if !busy {
                leptos::task::spawn_local(work_through_inbox(live));
            }
        }
    }
}

async fn work_through_inbox(live: Live) {
    loop {
        let next = INBOX.with(|inbox| {
            let mut inbox = inbox.borrow_mut();
            let next = inbox.queue.pop_front();
            inbox.busy = next.is_some();
            next
        });
        match next {
            None => return,
            Some(Incoming::Text(text)) => apply_text(live, &text),
            Some(Incoming::Gzip(blob)) => match gunzip(&blob).await {
                Ok(text) => apply_text(live, &text),
                Err(error) => warn(&format!("a gzipped server message could not be read: {error:?}")),
            },
        }
    }
}

/// Inflates a gzip message with the browser's own `DecompressionStream`.
async fn gunzip(blob: &Blob) -> Result<String, JsValue> {
    let inflate = DecompressionStream::new("gzip")?;
    let pair = ReadableWritablePair::new(&inflate.readable(), &inflate.writable());
    let text = blob.stream().pipe_through(&pair);
    let response = web_sys::Response::new_with_opt_readable_stream(Some(&text))?;
    JsFuture::from(response.text()?)
        .await?
        .as_string()
        .ok_or_else(|| JsValue::from_str("not text"))
}

fn apply_text(live: Live, text: &str) {
    match serde_json::from_str::<ServerMsg>(text) {
        Ok(message) => live.apply(message),
        Err(error) => warn(&format!("malformed server message ignored: {error}")),
    }
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
    if live.signed_out.get_untracked() {
        // `/me` said 401: the login form is up, and signing in reloads the page.
        live.link.set(LinkState::SignedOut);
        return;
    }
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
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| receive(live, event));
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
    if live.signed_out.get_untracked() {
        live.link.set(LinkState::SignedOut);
        return;
    }
    live.link.set(LinkState::Retrying { attempt });
    let exponent = attempt.saturating_sub(1).min(10) as i32;
    let base = (BACKOFF_FIRST_MS * 2f64.powi(exponent)).min(BACKOFF_CAP_MS);
    let wait = base * (0.5 + js_sys::Math::random() * 0.5);
    leptos::prelude::set_timeout(move || connect(live, attempt), Duration::from_millis(wait as u64));
}
