//! Lease and member ids, written the way etcd writes them into keys: lowercase
//! hexadecimal without `0x` and without leading zeros. Input is lenient (upper
//! case and leading zeros are accepted) but never ambiguous: anything that is
//! not hex, or does not fit in 64 bits, is an error.

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

#[cfg(test)]
mod tests {
    use super::*;

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
