//! Bytes to the text forms of docs/api.md: keys and values are shown as text when
//! they are UTF-8, else lossily, with the exact bytes in base64 beside them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// `(text, base64)`: the base64 only when `bytes` is not valid UTF-8.
pub fn text_and_base64(bytes: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), None),
        Err(_) => (
            String::from_utf8_lossy(bytes).into_owned(),
            Some(STANDARD.encode(bytes)),
        ),
    }
}

/// The entity id of a key: its text, or `base64:` and its base64 when it is
/// not UTF-8 or its text begins with `base64:` (docs/api.md, "Ids"). The
/// wire model's function, so that the browser, which computes the ids of a
/// folder's entries itself, always agrees.
pub use app::model::key_id;
/// The key an id (or a `{key}` path segment) names; `None` for `base64:…`
/// that is no key's id.
pub use app::model::key_of_id;
/// The id of a key given as text: a folder's prefix.
pub use app::model::text_id;

/// `host:port` from an endpoint such as `grpc://10.0.0.1:9000?isSecure=false`,
/// `http://[::1]:80/path` or a bare `10.0.0.1:9000`; `None` without a port.
pub fn host_port(endpoint: &str) -> Option<String> {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = authority.rsplit_once(':')?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return None;
    }
    // An IPv6 literal must be bracketed to carry a port.
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return None;
    }
    Some(authority.to_owned())
}

/// Decodes `%XX` escapes and `+` (a space, as Go's `url.QueryEscape` and
/// Java's `URLEncoder` write one); an error for a broken escape or bytes
/// that are not UTF-8.
pub fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("broken escape at byte {i}"))?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "escapes decode to bytes that are not UTF-8".to_owned())
}

/// The `name=value` pairs of a URL query, still encoded; a pair without `=`
/// has an empty value, and empty pairs are skipped.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// `host:port`, bracketing an IPv6 literal.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_base64_only_for_binary() {
        assert_eq!(text_and_base64(b"abc"), ("abc".to_owned(), None));
        let (text, b64) = text_and_base64(&[0xff, b'a']);
        assert_eq!(text, "\u{fffd}a");
        assert_eq!(b64.as_deref(), Some("/2E="));
        assert_eq!(key_id(&[0xff]), "base64:/w==");
    }

    #[test]
    fn a_text_key_named_like_a_binary_keys_id_gets_an_id_of_its_own() {
        let binary = [0xff];
        let text = b"base64:/w==";
        assert_ne!(key_id(&binary), key_id(text));
        assert_eq!(key_id(text), format!("base64:{}", STANDARD.encode(text)));
        assert_eq!(key_of_id(&key_id(text)).as_deref(), Some(text.as_slice()));
        assert_eq!(key_of_id(&key_id(&binary)).as_deref(), Some(binary.as_slice()));
        // The base64 crate and the wire model write the same base64.
        for key in [&b""[..], b"a", b"ab", b"abc", &[0, 0xff, 0x80, 0x7f], b"base64:"] {
            let id = key_id(&[key, &[0xfe]].concat());
            assert_eq!(id, format!("base64:{}", STANDARD.encode([key, &[0xfe]].concat())));
        }
        assert_eq!(text_id("/a/"), "/a/");
    }

    #[test]
    fn host_ports() {
        assert_eq!(
            host_port("grpc://10.0.0.1:9000?isSecure=false").as_deref(),
            Some("10.0.0.1:9000")
        );
        assert_eq!(host_port("http://[::1]:80/x").as_deref(), Some("[::1]:80"));
        assert_eq!(host_port("10.0.0.1:9000").as_deref(), Some("10.0.0.1:9000"));
        assert_eq!(host_port("http://user@host:1").as_deref(), Some("host:1"));
        assert_eq!(host_port("http://host"), None);
        assert_eq!(host_port("host:notaport"), None);
        assert_eq!(host_port("::1:80"), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("dubbo%3A%2F%2Fa%3A1%2Fx%3Fk%3Dv%2Cw").as_deref(),
            Ok("dubbo://a:1/x?k=v,w")
        );
        assert_eq!(percent_decode("a+b%2b").as_deref(), Ok("a b+"));
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%4").is_err());
        assert!(percent_decode("%ff").is_err());
        assert_eq!(join_host_port("::1", 80), "[::1]:80");
        assert_eq!(join_host_port("10.0.0.1", 80), "10.0.0.1:80");
    }
}
