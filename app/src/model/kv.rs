//! The configuration centre: keys as configuration, with their MVCC history
//! (docs/api.md, "Configuration routes").

use serde::{Deserialize, Serialize};

use super::{ErrorDetail, LeaseId, Revision};

/// What the classifier made of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum KvKind {
    /// A registered instance of a service.
    Instance,
    /// A lock contender (empty value).
    Lock,
    /// An election candidate (its proposal as value).
    Election,
    /// A plain key.
    Kv,
    /// A kind a newer server knows and this build does not.
    #[serde(other)]
    Unknown,
}

/// One key with its metadata. Keys and values are bytes: `key`/`value` are
/// the text when it is UTF-8, else a lossy rendering with the exact bytes in
/// `key_base64`/`value_base64`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Kv {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_base64: Option<String>,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    pub version: i64,
    pub lease: Option<LeaseId>,
    pub kind: KvKind,
}

impl Kv {
    /// The key's id ([`key_id`](super::key_id)): the key itself, or
    /// `base64:<bytes>` when it is not UTF-8 or its text begins with `base64:`.
    pub fn id(&self) -> String {
        match &self.key_base64 {
            Some(bytes) => format!("{}{bytes}", super::BINARY_ID_MARKER),
            None => super::text_id(&self.key),
        }
    }

    /// The value's bytes are not UTF-8 (shown as hex).
    pub fn is_binary(&self) -> bool {
        self.value_base64.is_some()
    }
}

/// `GET /api/v1/kv?prefix=P&limit=N&after=KEY`, and the `kv:<prefix>` topic's
/// snapshot (where `more` is always false).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KvListBody {
    pub revision: Revision,
    pub items: Vec<Kv>,
    /// Keys follow the last item (ask again with `after` = its key).
    pub more: bool,
    /// Only the topic's snapshot (read from the mirror) can be stale; the
    /// REST listing reads etcd.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

/// Most entries a `kv-dir:<prefix>` topic (and most keys a `kv:<prefix>`
/// topic) serves; a larger one is refused with `too_large`.
pub const KV_TOPIC_MAX: usize = 10_000;

/// One entry of a folder of the key tree (`kv-dir:<prefix>`): a key directly
/// in the folder, or a sub-folder holding at least one key.
///
/// Patch ids: a key's id (as in `kv:<prefix>`), or the sub-folder's whole
/// prefix, which ends with `/` (a key directly in the folder has no `/` after
/// the folder's prefix, so the two never collide).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KvDirEntry {
    /// What follows the folder's prefix: `name` for a key, `name/` for a
    /// sub-folder.
    pub name: String,
    /// The key, for a key; `None` for a sub-folder.
    #[serde(default)]
    pub kv: Option<Kv>,
}

/// The `kv-dir:<prefix>` snapshot: the folder's keys and sub-folders in
/// etcd's byte order; a folder of more than 10,000 entries is refused with
/// `too_large`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KvDirBody {
    pub revision: Revision,
    pub prefix: String,
    pub entries: Vec<KvDirEntry>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

/// `GET /api/v1/kv/{key}` (with or without `?rev=R`), and a successful `PUT`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KvBody {
    pub revision: Revision,
    /// `None` when the key did not exist at the revision asked for.
    pub kv: Option<Kv>,
    /// Why the key is what `kv.kind` says (`GET` only, when the key exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
}

/// Why a key is what the classifier makes of it: the rule that matched and
/// on what evidence, and the rules that almost matched with what failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Classification {
    pub kind: KvKind,
    /// The rule that matched: a layout (`kratos`, `moleculer`, ...), a
    /// coordination library (`etcd-concurrency`, `npm-etcd3`,
    /// `python-etcd3`, `tooz`, `patroni`), `moleculer-heartbeat`, or a
    /// `--service-pattern`; absent for a plain key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The services (instances) or the lock or election (contenders) it is part of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub of: Vec<String>,
    /// What the match rests on: the key's shape, the value's, the lease.
    pub evidence: Vec<String>,
    /// Rules the key came close to: the key looked like theirs, and one
    /// condition failed.
    pub near_misses: Vec<NearMiss>,
}

/// A rule that almost matched a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NearMiss {
    pub rule: String,
    /// The condition that failed.
    pub failed: String,
}

/// One version of a key in its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KvVersion {
    pub mod_revision: Revision,
    /// 0 for a deletion.
    pub version: i64,
    /// `None` for a deletion.
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
    pub deleted: bool,
}

/// `GET /api/v1/kv/{key}/history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KvHistoryBody {
    pub revision: Revision,
    /// Newest first.
    pub versions: Vec<KvVersion>,
    /// True only when no version can be missing: etcd has compacted nothing,
    /// or the oldest version listed is the key's creation. False when a
    /// compaction cut versions off, when nothing of the key is left after
    /// one (it may have existed), and when `truncated`.
    pub complete: bool,
    /// The server stopped reading at its bounds (10,000 versions, 16 MiB of
    /// values): older versions may exist. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// etcd's compaction horizon (0: nothing was compacted): versions
    /// older than it are gone for every key.
    #[serde(default)]
    pub compact_revision: Revision,
}

/// The body of `PUT /api/v1/kv/{key}`: exactly one of `value` and
/// `value_base64`, and the revision the change was made from (0: the key
/// must not exist). Fields are optional here so that a missing one is a 400
/// with a clear message rather than a decoding failure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KvPutRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "whole_number")]
    pub expect_mod_revision: Option<Revision>,
}

/// A JSON number that is a whole number, written `647`, `647.0` or `6.47e2`
/// (all are JSON Schema integers). The number's text is read exactly: a
/// float's nearest double would turn `1864360823492919.0` into something
/// with a fraction, and `9007199254740993.0` into another revision.
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Revision>, D::Error> {
    let Some(raw) = Option::<Box<serde_json::value::RawValue>>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let text = raw.get().trim();
    if text == "null" {
        return Ok(None);
    }
    exact_integer(text)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{text} is not a whole number")))
}

/// The integer a JSON number's text denotes, if it is one that fits an
/// `i64`: `-12`, `12.000`, `1.2e1`, `1200e-2`; `None` for a fraction, a
/// value out of range or anything that is not a JSON number.
fn exact_integer(text: &str) -> Option<i64> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !is_digits(whole) || !(fraction.is_empty() || is_digits(fraction)) {
        return None;
    }
    // digits x 10^scale, with the digits' leading and trailing zeros dropped.
    let digits = format!("{whole}{fraction}");
    let significant = digits.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    if trimmed.is_empty() {
        return Some(0);
    }
    let fraction_len = i64::try_from(fraction.len()).ok()?;
    let dropped = i64::try_from(significant.len() - trimmed.len()).ok()?;
    let scale = exponent.checked_sub(fraction_len)?.checked_add(dropped)?;
    if !(0..=19).contains(&scale) {
        return None; // a fraction, or beyond any i64
    }
    let magnitude = trimmed
        .parse::<i128>()
        .ok()?
        .checked_mul(10i128.checked_pow(u32::try_from(scale).ok()?)?)?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// What the server accepts, which the optional fields do not say: exactly
/// one of `value` and `value_base64` (canonical base64, as the server
/// decodes it), and `expect_mod_revision`.
#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for KvPutRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Type};
        // `null` is as good as absent; exactly one of the two is a string.
        let nullable = || utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]);
        let text = ObjectBuilder::new()
            .schema_type(nullable())
            .description(Some("The new value as text (UTF-8)"));
        let base64 = ObjectBuilder::new()
            .schema_type(nullable())
            .pattern(Some(BASE64_PATTERN))
            .description(Some("The new value's bytes in standard base64, with padding"));
        let given = |name: &str| {
            ObjectBuilder::new()
                .property(name, ObjectBuilder::new().schema_type(Type::String))
                .required(name)
        };
        let revision = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(0))
            .description(Some("The mod_revision the change was made from; 0 to create the key"));
        let one_of = OneOfBuilder::new().item(given("value")).item(given("value_base64"));
        let fields = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("value", text)
            .property("value_base64", base64)
            .property("expect_mod_revision", revision)
            .required("expect_mod_revision");
        AllOfBuilder::new()
            .item(fields)
            .item(one_of)
            .description(Some(
                "A compare-and-swap write: one of value and value_base64, and expect_mod_revision",
            ))
            .into()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for KvPutRequest {}

/// Standard base64 with padding and no stray bits, as the server's decoder
/// takes it: a JSON Schema (ECMA-262) pattern.
pub const BASE64_PATTERN: &str =
    r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$";

/// `DELETE /api/v1/kv/{key}?expect_mod_revision=N`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KvDeletedBody {
    pub revision: Revision,
}

/// The 409 of a compare-and-swap that lost: the error, and the key as it is
/// now (`None`: it does not exist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KvConflictBody {
    pub error: ErrorDetail,
    pub current: Option<Kv>,
}

/// A key present at both revisions of a diff, with another `mod_revision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KvChange {
    pub before: Kv,
    pub after: Kv,
}

/// `GET /api/v1/kv-diff?prefix=P&from=R1&to=R2`: each list in key order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KvDiffBody {
    pub revision: Revision,
    pub from: Revision,
    pub to: Revision,
    pub added: Vec<Kv>,
    pub removed: Vec<Kv>,
    pub changed: Vec<KvChange>,
    /// etcd's compaction horizon when the diff was read (0: nothing was
    /// compacted): no revision before it can be compared. Absent when etcd
    /// could not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact_revision: Option<Revision>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kv_is_written_as_documented() {
        let kv = Kv {
            key: "/config/a".into(),
            key_base64: None,
            value: "\u{fffd}".into(),
            value_base64: Some("/w==".into()),
            create_revision: 2,
            mod_revision: 3,
            version: 2,
            lease: None,
            kind: KvKind::Kv,
        };
        assert_eq!(
            serde_json::to_string(&kv).ok().as_deref(),
            Some(
                r#"{"key":"/config/a","value":"�","value_base64":"/w==","create_revision":2,"mod_revision":3,"version":2,"lease":null,"kind":"kv"}"#
            )
        );
        let kind: Result<KvKind, _> = serde_json::from_str(r#""from-the-future""#);
        assert_eq!(kind.ok(), Some(KvKind::Unknown));
        let put: Result<KvPutRequest, _> = serde_json::from_str(r#"{"value":"x"}"#);
        assert_eq!(put.ok().and_then(|p| p.expect_mod_revision), None);
    }

    #[test]
    fn a_revision_written_as_any_json_integer_is_read_exactly() {
        let read = |number: &str| {
            serde_json::from_str::<KvPutRequest>(&format!(r#"{{"value":"x","expect_mod_revision":{number}}}"#))
                .ok()
                .and_then(|p| p.expect_mod_revision)
        };
        assert_eq!(read("647"), Some(647));
        assert_eq!(read("647.0"), Some(647));
        assert_eq!(read("6.47e2"), Some(647));
        assert_eq!(read("64700E-2"), Some(647));
        assert_eq!(read("0.0"), Some(0));
        assert_eq!(read("-0"), Some(0));
        // Beyond what a double holds exactly, still the revision written.
        assert_eq!(read("1864360823492919.0"), Some(1_864_360_823_492_919));
        assert_eq!(read("9007199254740993.0"), Some(9_007_199_254_740_993));
        assert_eq!(read("9223372036854775807.000"), Some(i64::MAX));
        assert_eq!(read("null"), None);
        for not_whole in ["647.5", "6.475e2", "9223372036854775808", "1e20", "1e-3"] {
            assert!(
                serde_json::from_str::<KvPutRequest>(&format!(r#"{{"expect_mod_revision":{not_whole}}}"#)).is_err(),
                "{not_whole} was read as a whole number"
            );
        }
    }
}
