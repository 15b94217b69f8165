//! `GET /api/v1/ws`: the upgrade to a WebSocket, and the pump between the
//! socket and the client's [`Feed`], which holds the protocol itself
//! (subscriptions, snapshots, coalesced patches, status, limits: see
//! [`crate::hub::feed`]).
//!
//! One task per socket runs the feed over the socket's messages; a second
//! task owns the socket's sink and writes the feed's batches, each flushed
//! once. Between the two is a channel of capacity one, so at most one batch
//! waits while another is being written, and the feed coalesces the rest.
//!
//! The socket closes with 1001 when the server shuts down, with 4401 when
//! the sign-in it was opened with ends, and with the code the feed gives when
//! the client breaks a limit (1008). What a client may send is bounded here
//! too: [`MAX_CLIENT_MESSAGE`], also the largest frame read.
//!
//! A client that opened the socket with `?compress=gzip` gets the feed's
//! large messages as binary frames of gzipped JSON.

use std::collections::HashMap;
use std::future::ready;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Extension;
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::AppState;
use crate::auth::{Caller, SignedIn};
use crate::hub::feed::{Ended, Frame, FromClient, Options};
use crate::hub::{Feed, Snapshots, Text};
use app::model::CLOSE_SIGNED_OUT;

/// Largest client message accepted, and largest frame: a client sends
/// `subscribe`, `unsubscribe` and `ping`, and a subscription to every topic
/// a socket may hold fits with room to spare. A frame is refused from its
/// header, before its payload is read (tungstenite's default of 16 MiB would
/// have the server buffer that much of a frame it then refuses).
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Bytes read from a socket at a time. Clients send little; the WebSocket
/// layer zeroes this much before every read attempt, and its 128 KiB default
/// made that memset the largest single cost of fanning patches out to many
/// sockets.
const READ_CHUNK: usize = 4 * 1024;
/// How long a closing socket gets to take its close frame and last batch;
/// after that its writer is stopped, so that a client that never reads does
/// not keep a task and a socket for ever.
const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// WebSocket close code "going away".
const CLOSE_GOING_AWAY: u16 = 1001;

/// `GET /api/v1/ws`, or `GET /api/v1/ws?compress=gzip` for large messages
/// as gzip in binary frames.
#[utoipa::path(
    get,
    path = "/ws",
    operation_id = "websocket",
    tag = "live",
    params(("compress" = Option<String>, Query, pattern = "^gzip$", description = "`gzip`: messages of 8 KiB or more come gzipped in binary frames")),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol: ClientMsg and ServerMsg of the components (docs/websocket.md)"),
        (status = 400, description = "bad_request: not a WebSocket upgrade, or a compress other than gzip", body = app::model::ErrorBody),
        (status = 426, description = "The connection cannot be upgraded", body = app::model::ErrorBody),
        super::openapi::Failures,
    )
)]
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let gzip = match query.get("compress").map(String::as_str) {
        None => false,
        Some("gzip") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "compress={other:?}: the only compression offered is \"gzip\""
            )))
        }
    };
    Ok(ws
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(READ_CHUNK)
        .on_upgrade(move |socket: WebSocket| {
            let (sink, stream) = socket.split();
            let options = Options {
                mirrored: state.config.prefixes.clone().into(),
                gzip,
            };
            let metrics = state.store.metrics().clone();
            let feed = Feed::new(&state.hub, state.store.clone(), metrics, options);
            pump(feed, sink, stream, state.stop.clone(), caller.session)
        }))
}

/// Completes when the sign-in a socket was opened with ends (logout or
/// expiry); never without one.
async fn sign_in_ended(signed_in: Option<&SignedIn>) {
    match signed_in {
        Some(session) => {
            let expires = tokio::time::Instant::from_std(session.expires);
            tokio::select! {
                () = session.ended.cancelled() => {}
                () = tokio::time::sleep_until(expires) => {}
            }
        }
        None => std::future::pending().await,
    }
}

/// What the writer is handed: a batch of the feed's frames, or the close
/// frame after the last of them.
enum Batch {
    Frames(Vec<Frame>),
    Close(CloseFrame),
}

impl From<Vec<Frame>> for Batch {
    fn from(frames: Vec<Frame>) -> Self {
        Batch::Frames(frames)
    }
}

/// Runs `feed` over a socket until either side ends, the server stops
/// (`stop`) or the sign-in ends; then closes the socket, within
/// [`CLOSE_GRACE`].
async fn pump<S, W, R>(mut feed: Feed<S>, sink: W, mut stream: R, stop: CancellationToken, signed_in: Option<SignedIn>)
where
    S: Snapshots,
    W: Sink<Message> + Unpin + Send + 'static,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let (tx, rx) = mpsc::channel::<Batch>(1);
    let mut writer = tokio::spawn(write_batches(sink, rx));
    // A JoinHandle must not be polled again once it has completed.
    let mut writer_done = false;
    let close = {
        let mut incoming = std::pin::pin!(client_messages(&mut stream));
        tokio::select! {
            ended = feed.run(&mut incoming, &tx) => match ended {
                Ended::Close(close) => Some((close.code, close.reason)),
                Ended::ClientGone | Ended::Disconnected | Ended::HubGone => None,
            },
            () = stop.cancelled() => Some((CLOSE_GOING_AWAY, "server shutting down")),
            () = sign_in_ended(signed_in.as_ref()) => Some((CLOSE_SIGNED_OUT, "signed out: sign in again")),
            _ = &mut writer => {
                writer_done = true;
                None
            }
        }
    };
    if let Some((code, reason)) = close {
        tracing::debug!(code, reason, "closing a websocket");
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        // Best effort, and bounded: the client may be gone or not reading.
        let close = tx.send(Batch::Close(frame));
        let _ = tokio::time::timeout(CLOSE_GRACE, close).await;
    }
    drop(tx);
    // Let the writer flush what it has (a close frame, a last batch), and
    // read what the client still sends until its own close: dropping a
    // socket with unread input resets the connection, and a reset throws
    // away what the client has not read yet (the close frame among it).
    // Not for ever: a client that does not read never lets the writer end.
    let finish = async {
        if !writer_done {
            let _ = (&mut writer).await;
        }
    };
    let drain = async { while let Some(Ok(_)) = stream.next().await {} };
    if tokio::time::timeout(CLOSE_GRACE, futures::future::join(finish, drain))
        .await
        .is_err()
    {
        writer.abort();
    }
}

/// The socket's messages as the feed reads them, until it closes or a read
/// fails. Pings are answered by the WebSocket layer, and a close ends the
/// stream next.
fn client_messages<R>(stream: &mut R) -> impl Stream<Item = FromClient<Utf8Bytes>> + '_
where
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    stream
        .take_while(|read| {
            if let Err(error) = read {
                tracing::debug!(%error, "websocket read failed");
            }
            ready(read.is_ok())
        })
        .filter_map(|read| {
            ready(match read {
                Ok(Message::Text(text)) => Some(FromClient::Text(text)),
                Ok(Message::Binary(_)) => Some(FromClient::Binary),
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_)) | Err(_) => None,
            })
        })
}

/// A feed's frame as a WebSocket message.
fn message(frame: Frame) -> Message {
    match frame {
        Frame::Shared(text) => Message::Text(text.wire(utf8)),
        Frame::Text(text) => Message::Text(text.into()),
        Frame::Gzip(gz) => Message::Binary(gz.into()),
    }
}

/// A shared text as axum's, over the same memory. Axum makes one from bytes
/// only by checking their UTF-8 again, so this runs once per text, for the
/// first socket that sends it ([`Text::wire`]); the others clone the result.
fn utf8(text: &Text) -> Utf8Bytes {
    // A `Text` is always UTF-8 (it is made from a `String`); a copy if not.
    Utf8Bytes::try_from(text.bytes()).unwrap_or_else(|_| text.as_str().into())
}

/// Owns the sink: writes each batch, flushing once per batch.
async fn write_batches<W>(mut sink: W, mut batches: mpsc::Receiver<Batch>)
where
    W: Sink<Message> + Unpin,
{
    while let Some(batch) = batches.recv().await {
        match batch {
            Batch::Frames(frames) => {
                for frame in frames {
                    if sink.feed(message(frame)).await.is_err() {
                        return;
                    }
                }
            }
            Batch::Close(frame) => {
                if sink.feed(Message::Close(Some(frame))).await.is_err() {
                    return;
                }
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_text_goes_out_over_its_own_memory_on_every_socket() {
        let text = Text::from(r#"{"type":"patch","topic":"services"}"#.to_owned());
        for _ in 0..2 {
            match message(Frame::Shared(text.clone())) {
                Message::Text(sent) => assert_eq!(sent.as_str().as_ptr(), text.as_str().as_ptr()),
                other => panic!("a text frame, not {other:?}"),
            }
        }
    }
}
