//! A message's JSON text, written once and sent by many sessions.
//!
//! The hub serializes each update's patch of a topic once and every session
//! on that topic sends the same text. [`Text`] is that text in a form no
//! transport owns: a reference-counted string, readable as `&str` (patches
//! merged for a busy client are cut from it) and as [`Bytes`] over the same
//! memory (what a socket writes).
//!
//! A transport whose text type can only be made from bytes by checking
//! their UTF-8 again (axum's) would pay that check once per client: for a
//! 1 KiB patch about seven times what handing over a shared text costs, for
//! 16 KiB fifty times. [`Text::wire`] keeps the transport's own form next to
//! the text, made by the first session that sends it, so that every other
//! session only clones it.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

/// JSON text shared by every session that sends it; a clone is a reference
/// count, never a copy.
#[derive(Clone)]
pub struct Text(Arc<Inner>);

struct Inner {
    text: Arc<String>,
    /// `text`'s bytes, the same memory.
    bytes: Bytes,
    /// The text as a transport's own type ([`Text::wire`]). Made from
    /// `bytes`, which do not hold this `Inner`: no cycle keeps it alive.
    wire: OnceLock<Box<dyn Any + Send + Sync>>,
}

/// Keeps a text's memory alive for as long as some [`Bytes`] view of it is.
struct Owner(Arc<String>);

impl AsRef<[u8]> for Owner {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        let text = Arc::new(text);
        let bytes = Bytes::from_owner(Owner(text.clone()));
        Text(Arc::new(Inner {
            text,
            bytes,
            wire: OnceLock::new(),
        }))
    }
}

impl Text {
    pub fn as_str(&self) -> &str {
        self.0.text.as_str()
    }

    /// The text's UTF-8 bytes, sharing its memory.
    pub fn bytes(&self) -> Bytes {
        self.0.bytes.clone()
    }

    pub fn len(&self) -> usize {
        self.0.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.text.is_empty()
    }

    /// The text as a transport's type `T`: made by `make` for the first
    /// caller, a clone of that for every later one. One transport type per
    /// text is kept; asked for another, `make` runs every time.
    pub fn wire<T: Clone + Send + Sync + 'static>(&self, make: impl FnOnce(&Text) -> T) -> T {
        if let Some(wire) = self.0.wire.get().and_then(|wire| wire.downcast_ref::<T>()) {
            return wire.clone();
        }
        let made = make(self);
        // Another session may have made it meanwhile; either is the same text.
        let _ = self.0.wire.set(Box::new(made.clone()));
        made
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const JSON: &str = r#"{"type":"patch","é":1}"#;

    #[test]
    fn clones_and_bytes_share_the_text_s_memory() {
        let text = Text::from(JSON.to_owned());
        let clone = text.clone();
        assert_eq!(clone.as_str().as_ptr(), text.as_str().as_ptr());
        let bytes = text.bytes();
        assert_eq!(bytes.as_ptr(), text.as_str().as_ptr());
        drop(text);
        drop(clone);
        // The bytes keep the memory alive on their own.
        assert_eq!(&bytes[..], JSON.as_bytes());
    }

    #[test]
    fn a_transport_s_form_is_made_once_and_shared() {
        let made = AtomicUsize::new(0);
        let text = Text::from(JSON.to_owned());
        let wire = |text: &Text| {
            made.fetch_add(1, Ordering::Relaxed);
            text.bytes()
        };
        let first = text.wire(wire);
        let second = text.clone().wire(wire);
        assert_eq!(made.load(Ordering::Relaxed), 1);
        assert_eq!(first.as_ptr(), second.as_ptr());
        assert_eq!(first.as_ptr(), text.as_str().as_ptr());
        // Another type is made each time, and does not replace the first.
        assert_eq!(text.wire(|text| text.len()), JSON.len());
        assert_eq!(text.wire(wire).as_ptr(), first.as_ptr());
        assert_eq!(made.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_text_with_its_transport_form_is_freed_with_its_last_clone() {
        let text = Text::from(JSON.to_owned());
        let inner = Arc::downgrade(&text.0);
        let owner = Arc::downgrade(&text.0.text);
        let _ = text.wire(Text::bytes);
        drop(text);
        assert!(inner.upgrade().is_none() && owner.upgrade().is_none());
    }
}
