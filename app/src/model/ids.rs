//! Ids of the wire model.
//!
//! Lease and member ids are written the way etcd writes them into keys:
//! lowercase hexadecimal without `0x` and without leading zeros. Input is
//! lenient (upper case and leading zeros are accepted) but never ambiguous:
//! anything that is not hex, or does not fit in 64 bits, is an error.
//!
//! The id of an etcd key ([`key_id`]) is the key's text, or [`BINARY_ID_MARKER`]
//! and the key's bytes in base64 when the text would not do: for a key that
//! is not UTF-8, and for a text key that itself begins with the marker (so a
//! key named `base64:/w==` never takes the id of the one-byte key `0xff`).
//! The server and the browser both use these functions, so the ids in the
//! server's patches and the ones the browser computes for a folder's entries
//! always agree.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    Empty,
    NotHex,
    TooLong,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Empty => f.write_str("an id must not be empty"),
            IdError::NotHex => f.write_str("an id must be hexadecimal (0-9, a-f)"),
            IdError::TooLong => f.write_str("an id must fit in 64 bits"),
        }
    }
}

impl std::error::Error for IdError {}

fn parse_hex_u64(s: &str) -> Result<u64, IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(IdError::NotHex);
    }
    let significant = s.trim_start_matches('0');
    if significant.len() > 16 {
        return Err(IdError::TooLong);
    }
    if significant.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(significant, 16).map_err(|_| IdError::TooLong)
}

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident, $inner:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Bit pattern as unsigned: etcd formats ids with %x on the uint64.
                write!(f, "{:x}", self.0 as u64)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                parse_hex_u64(s).map(|v| $name(v as $inner))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        /// A string of lowercase hex, as [`fmt::Display`] writes it.
        #[cfg(feature = "ssr")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some("^[0-9a-fA-F]{1,16}$"))
                    .description(Some(concat!(stringify!($name), ": 64 bits in hexadecimal, as etcd writes them into keys (lowercase, no leading zeros, no 0x)")))
                    .examples(["694d8b0ee8ec6c0a"])
                    .into()
            }
        }

        #[cfg(feature = "ssr")]
        impl utoipa::ToSchema for $name {}

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_id!(
    /// An etcd lease id. etcd's API types it as int64; keys and tools show it as
    /// the unsigned hex of the same 64 bits.
    LeaseId,
    i64
);
hex_id!(
    /// An etcd member (or cluster) id.
    MemberId,
    u64
);

/// What begins the id of a key written in base64 ([`key_id`]).
pub const BINARY_ID_MARKER: &str = "base64:";

/// The entity id of an etcd key: its text when the key is UTF-8 and does not
/// begin with [`BINARY_ID_MARKER`]; otherwise the marker followed by the
/// key's bytes in standard base64 (with padding). Two keys never share an id,
/// and [`key_of_id`] gives the key back.
pub fn key_id(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(text) if !text.starts_with(BINARY_ID_MARKER) => text.to_owned(),
        _ => {
            let mut id = String::with_capacity(BINARY_ID_MARKER.len() + key.len().div_ceil(3) * 4);
            id.push_str(BINARY_ID_MARKER);
            base64_encode_into(key, &mut id);
            id
        }
    }
}

/// [`key_id`] of a key given as text (a folder's prefix, a key typed in).
pub fn text_id(text: &str) -> String {
    key_id(text.as_bytes())
}

/// The key an id names: the inverse of [`key_id`]. `None` for a string that
/// is no key's id: the marker followed by something other than the base64
/// [`key_id`] writes (not base64, or the base64 of a text key that is its own
/// id, which would otherwise name one key by two ids).
pub fn key_of_id(id: &str) -> Option<Vec<u8>> {
    let Some(encoded) = id.strip_prefix(BINARY_ID_MARKER) else {
        return Some(id.as_bytes().to_vec());
    };
    let key = base64_decode_canonical(encoded)?;
    (key_id(&key) == id).then_some(key)
}

/// The text of the key an id names, when that key is UTF-8 (a text key,
/// whether its id is its text or base64); `None` for a key that is not
/// UTF-8, or a string that is no key's id.
pub fn key_text_of_id(id: &str) -> Option<String> {
    if !id.starts_with(BINARY_ID_MARKER) {
        return Some(id.to_owned());
    }
    String::from_utf8(key_of_id(id)?).ok()
}

const BASE64_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as etcd's JSON gateway and the `base64`
/// crate's `STANDARD` engine write it.
fn base64_encode_into(bytes: &[u8], out: &mut String) {
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(BASE64_ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
}

/// The bytes of `text` if it is base64 exactly as [`base64_encode_into`]
/// writes it (padding included, no stray bits, nothing else).
fn base64_decode_canonical(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for byte in text.trim_end_matches('=').bytes() {
        let value = BASE64_ALPHABET.iter().position(|&c| c == byte)?;
        buffer = (buffer << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    let mut again = String::with_capacity(text.len());
    base64_encode_into(&out, &mut again);
    (again == text).then_some(out)
}

/// A path segment or query value, percent-encoded (service names and keys
/// may hold `/`, `?`, `&` and more).
pub fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_id_is_its_text_unless_that_could_be_taken_for_base64() {
        assert_eq!(key_id(b"/config/a"), "/config/a");
        assert_eq!(key_id(b""), "");
        assert_eq!(key_id(&[0xff]), "base64:/w==");
        assert_eq!(key_id(&[0xff, 0]), "base64:/wA=");
        assert_eq!(key_id(&[0x80, 0x81, 0x82]), "base64:gIGC");
        // A text key that looks like a binary key's id is written in base64 too.
        assert_eq!(key_id(b"base64:/w=="), "base64:YmFzZTY0Oi93PT0=");
        assert_eq!(text_id("base64:"), "base64:YmFzZTY0Og==");
        assert_eq!(text_id("Base64:x"), "Base64:x");
    }

    #[test]
    fn no_two_keys_share_an_id_and_every_id_gives_its_key_back() {
        let keys: Vec<Vec<u8>> = vec![
            b"a".to_vec(),
            b"".to_vec(),
            vec![0xff],
            b"base64:/w==".to_vec(),
            b"base64:YmFzZTY0Oi93PT0=".to_vec(),
            b"base64:".to_vec(),
            b"base64:gIG/".to_vec(),
            vec![0x80, 0x81, 0xbf],
            b"base64:not base64".to_vec(),
            [b"base64:".as_slice(), &[0xff]].concat(),
            "/ключ/é".as_bytes().to_vec(),
        ];
        let ids: std::collections::BTreeSet<String> = keys.iter().map(|k| key_id(k)).collect();
        assert_eq!(ids.len(), keys.len(), "{ids:?}");
        for key in &keys {
            let id = key_id(key);
            assert_eq!(key_of_id(&id).as_deref(), Some(key.as_slice()), "{id}");
            assert_eq!(key_text_of_id(&id), String::from_utf8(key.clone()).ok(), "{id}");
        }
    }

    #[test]
    fn strings_that_are_no_keys_id_name_no_key() {
        // "a" is its own id; base64 of it is not a second one.
        assert_eq!(key_of_id("base64:YQ=="), None);
        assert_eq!(key_of_id("base64:not base64"), None);
        assert_eq!(key_of_id("base64:/w"), None, "padding is part of the id");
        assert_eq!(key_of_id("base64:/x=="), None, "stray bits");
        assert_eq!(key_text_of_id("base64:/w=="), None, "a binary key has no text");
        assert_eq!(key_of_id("plain"), Some(b"plain".to_vec()));
    }

    #[test]
    fn lease_ids_print_like_etcd() {
        assert_eq!(LeaseId(0x694d8b0ee8ec6c0a).to_string(), "694d8b0ee8ec6c0a");
        assert_eq!(LeaseId(0x10).to_string(), "10");
        // Negative int64 ids are the same bits as a large uint64.
        assert_eq!(LeaseId(-1).to_string(), "ffffffffffffffff");
    }

    #[test]
    fn parsing_is_lenient_about_case_and_zeros_only() {
        assert_eq!("694D8B0EE8EC6C0A".parse(), Ok(LeaseId(0x694d8b0ee8ec6c0a)));
        assert_eq!("0000000000000000010".parse(), Ok(LeaseId(0x10)));
        assert_eq!("ffffffffffffffff".parse(), Ok(LeaseId(-1)));
        assert_eq!("".parse::<LeaseId>(), Err(IdError::Empty));
        assert_eq!("0x10".parse::<LeaseId>(), Err(IdError::NotHex));
        assert_eq!("-10".parse::<LeaseId>(), Err(IdError::NotHex));
        assert_eq!("1ffffffffffffffff".parse::<LeaseId>(), Err(IdError::TooLong));
    }

    #[test]
    fn serde_uses_the_hex_form() {
        let json = serde_json::to_string(&MemberId(0x8e9e05c52164694d)).unwrap_or_default();
        assert_eq!(json, "\"8e9e05c52164694d\"");
        let back: Result<MemberId, _> = serde_json::from_str(&json);
        assert_eq!(back.ok(), Some(MemberId(0x8e9e05c52164694d)));
        assert!(serde_json::from_str::<MemberId>("\"zz\"").is_err());
    }
}
