//! Who is on the other end: the client address every limit and every audit
//! entry is about.
//!
//! The direct peer, unless it is a reverse proxy named with
//! `--trusted-proxy`: then the client is the rightmost address of
//! `X-Forwarded-For` that is not itself a trusted proxy (each proxy appends
//! the address it got the request from, so everything left of the first
//! untrusted hop was written by the client and proves nothing). Without a
//! trusted proxy the header is ignored: anyone can send it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

use super::tls::ClientAddr;
use super::AppState;

/// The client's address, as [`identify`] found it; in every request's
/// extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client(pub IpAddr);

/// An address or a network (`10.0.0.0/8`, `fd00::/8`, `192.0.2.7`), for
/// `--trusted-proxy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    network: IpAddr,
    bits: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.bits)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, bits) = match text.split_once('/') {
            Some((address, bits)) => (address, Some(bits)),
            None => (text, None),
        };
        let network = address
            .parse::<IpAddr>()
            .map_err(|_| format!("{text:?} is not an IP address or a network like 10.0.0.0/8"))?
            .to_canonical();
        let widest = if network.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => widest,
            Some(bits) => bits
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= widest)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {widest}"))?,
        };
        Ok(IpNet { network, bits })
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.bits)
    }
}

/// One hop of `X-Forwarded-For`: an address, bracketed or not, with or
/// without a port (proxies differ).
fn hop(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| text.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
        .map(|ip| ip.to_canonical())
}

/// The client of a request that came from `peer`: see the module's doc.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    let mut client = peer;
    for text in forwarded.iter().rev() {
        // A hop that is not an address was not written by a proxy we know:
        // the last trusted hop is the best we can say.
        let Some(ip) = hop(text) else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// Puts the [`Client`] into the request's extensions, for every layer and
/// handler after it. Without connection info (a router driven directly, as
/// in unit tests) every request is the unspecified address.
pub async fn identify(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0 .0.ip());
    let client = resolve(peer, request.headers(), &state.config.trusted_proxies);
    request.extensions_mut().insert(Client(client));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn networks_parse_and_contain() {
        assert!(net("10.0.0.0/8").contains(ip("10.200.1.2")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("192.0.2.7").contains(ip("192.0.2.7")));
        assert!(!net("192.0.2.7").contains(ip("192.0.2.8")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(net("fd00::/8").contains(ip("fd12::1")));
        assert!(!net("fd00::/8").contains(ip("fe80::1")));
        assert!(net("127.0.0.1").contains(ip("::ffff:127.0.0.1")), "a mapped v4 peer");
        assert!(!net("::/0").contains(ip("10.0.0.1")), "families do not mix");
        for bad in ["", "10.0.0.0/33", "fd00::/129", "example.com", "10.0.0.0/x", "10.0.0/8"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let headers = |values: &[&'static str]| {
            let mut map = HeaderMap::new();
            for value in values {
                map.append("x-forwarded-for", HeaderValue::from_static(value));
            }
            map
        };
        let proxies = [net("10.0.0.0/8")];
        let spoofed = headers(&["198.51.100.1, 203.0.113.5"]);
        assert_eq!(
            resolve(ip("192.0.2.1"), &spoofed, &proxies),
            ip("192.0.2.1"),
            "not a proxy"
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), &spoofed, &proxies),
            ip("203.0.113.5"),
            "rightmost"
        );
        let chained = headers(&["198.51.100.1", "203.0.113.5, 10.0.0.9"]);
        assert_eq!(
            resolve(ip("10.0.0.2"), &chained, &proxies),
            ip("203.0.113.5"),
            "trusted hops are skipped"
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), &headers(&["10.1.1.1"]), &proxies),
            ip("10.1.1.1")
        );
        assert_eq!(resolve(ip("10.0.0.2"), &HeaderMap::new(), &proxies), ip("10.0.0.2"));
        assert_eq!(
            resolve(ip("10.0.0.2"), &headers(&["nonsense, 10.0.0.7"]), &proxies),
            ip("10.0.0.7"),
            "garbage stops the walk"
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), &headers(&["[2001:db8::1]:443"]), &proxies),
            ip("2001:db8::1")
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), &spoofed, &[]),
            ip("10.0.0.2"),
            "no proxy trusted"
        );
    }
}
