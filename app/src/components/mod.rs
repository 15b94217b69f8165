//! View pieces used across pages.

pub mod account;
pub mod code;
pub mod copy;
pub mod modal;
pub mod past;
pub mod revoke;
pub mod status_bar;
pub mod storm;
pub mod theme;
pub mod time;
pub mod ttl;

pub use crate::model::encode_segment;

/// Undoes [`encode_segment`] (and any other percent-encoding); invalid
/// escapes are kept as they are.
pub fn decode_segment(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|b| hex(*b)),
            bytes.get(i + 2).and_then(|b| hex(*b)),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip() {
        for name in ["billing", "a/b c", "skydns.local", "ünï", "100%"] {
            assert_eq!(decode_segment(&encode_segment(name)), name);
        }
        assert_eq!(encode_segment("a/b"), "a%2Fb");
        assert_eq!(decode_segment("%zz"), "%zz");
    }
}
