//! Bulk moves of a prefix: the export document, and the import's plan and
//! outcome (docs/api.md, "Export and import").

use serde::{Deserialize, Serialize};

use super::{LeaseId, Revision};

/// What an export document's `format` says.
pub const EXPORT_FORMAT: &str = "leasehold-export/1";

/// One key of an export document: the `KV` of `/api/v1/kv` without `kind`.
/// `key`/`value` are the text when it is UTF-8, else a lossy rendering with
/// the exact bytes in `key_base64`/`value_base64` (which an import reads
/// first).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ExportItem {
    #[serde(default)]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_base64: Option<String>,
    #[serde(default)]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
    #[serde(default)]
    pub create_revision: Revision,
    #[serde(default)]
    pub mod_revision: Revision,
    #[serde(default)]
    pub version: i64,
    /// The key's lease (absent: none, or an export with `leases=drop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseId>,
}

/// A lease an export's keys are attached to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ExportLease {
    pub id: LeaseId,
    /// The TTL the lease was granted with, asked of etcd when the document
    /// was written; `null` when etcd no longer knew the lease then.
    pub ttl: Option<i64>,
}

/// `GET /api/v1/export` and `leasehold export`. Written as it is read from
/// etcd: `items` (in key order, every page at `revision`) come before
/// `leases`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ExportDocument {
    /// [`EXPORT_FORMAT`].
    pub format: String,
    pub prefix: String,
    pub revision: Revision,
    /// RFC 3339.
    pub exported_at: String,
    pub items: Vec<ExportItem>,
    /// Absent with `leases=drop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leases: Option<Vec<ExportLease>>,
}

/// One key of `etcdctl get --prefix -w json`: bytes in base64, numbers as
/// etcd's protobuf JSON writes them (a field at zero is left out).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EtcdctlKv {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub create_revision: Revision,
    #[serde(default)]
    pub mod_revision: Revision,
    #[serde(default)]
    pub version: i64,
    /// The lease id in decimal (0 or absent: none).
    #[serde(default)]
    pub lease: i64,
}

/// What an import reads: an export document (`format`, `prefix`, `items`,
/// `leases`), or the output of `etcdctl get --prefix -w json` (`header`,
/// `kvs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ImportDocument {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<ExportItem>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leases: Option<Vec<ExportLease>>,
    /// etcdctl's header (read for nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub header: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kvs: Option<Vec<EtcdctlKv>>,
    /// etcdctl's `count` and `more` (read for nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more: Option<bool>,
}

/// What an import does with the document's leases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ImportLeases {
    /// Keys are written without a lease.
    #[default]
    None,
    /// One new lease per recorded lease, granted with its TTL; its keys are
    /// written on it.
    Recreate,
}

/// A value and its lease, as here or as the document gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ImportValue {
    /// Empty when `omitted`.
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseId>,
    /// The value's bytes.
    #[serde(default)]
    pub size: u64,
    /// The value is left out of the answer (each list shows at most 8 MiB
    /// of values): `size` alone gives it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub omitted: bool,
}

/// One key of an import's plan, under the target prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ImportKey {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_base64: Option<String>,
    /// The key's `mod_revision` here at the plan's revision (0: absent).
    pub mod_revision: Revision,
    /// The value here (absent for an added key, and for a key the
    /// document does not hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<ImportValue>,
    /// The document's value (absent for a key it does not hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<ImportValue>,
}

/// A key an import did not write: it was not at its planned `mod_revision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ImportConflict {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_base64: Option<String>,
    /// The `mod_revision` the plan saw (0: absent).
    pub expected_mod_revision: Revision,
    /// The key's `mod_revision` now (0: absent).
    pub current_mod_revision: Revision,
    /// The value now (absent: the key does not exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<ImportValue>,
    /// What the import would have written (absent: a delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<ImportValue>,
}

/// A lease granted by an import for a recorded one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct GrantedLease {
    /// The document's lease id.
    pub from: LeaseId,
    pub id: LeaseId,
    pub ttl: i64,
}

/// `POST /api/v1/import` and `leasehold import`: the plan (each list in
/// key order) and, when applied, what was done.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ImportBody {
    /// The target prefix.
    pub prefix: String,
    /// The document's prefix the keys were taken from.
    pub from: String,
    /// The revision the plan read the target at: what an apply confirms as
    /// `expect_revision`.
    pub revision: Revision,
    pub added: Vec<ImportKey>,
    pub changed: Vec<ImportKey>,
    /// Keys the document holds with the value (and lease) they have here.
    pub unchanged: u64,
    /// Keys here the document does not hold: deleted when
    /// `delete_missing`, else kept.
    pub absent_here: Vec<ImportKey>,
    pub delete_missing: bool,
    /// Keys whose recorded lease had no TTL (etcd no longer knew it at
    /// export), written without a lease under `leases: recreate`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unleased: Vec<String>,
    /// The plan was applied (false: a dry run).
    pub applied: bool,
    /// Keys written and deleted.
    pub written: u64,
    pub deleted: u64,
    /// Keys left as they are now, each with both sides.
    pub conflicts: Vec<ImportConflict>,
    /// etcd transactions that succeeded.
    pub transactions: u64,
    /// etcd's revision after the last transaction (0: none ran).
    pub applied_revision: Revision,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leases: Vec<GrantedLease>,
    /// Why the apply stopped before its end (etcd unavailable mid-way):
    /// `written`, `deleted` and `conflicts` say how far it got, `remaining`
    /// how many keys of the plan were not tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    #[serde(default)]
    pub remaining: u64,
}

fn yes() -> bool {
    true
}

/// The body of `POST /api/v1/copy`: the keys under `from` put under `to`
/// (an export and an import in one), and with `rename` then deleted from
/// `from`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CopyRequest {
    pub from: String,
    pub to: String,
    /// Copy `from` as it was at this revision (not with `rename`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<Revision>,
    /// Delete each key from `from` once its copy is written, while it is
    /// still as the dry run saw it.
    #[serde(default)]
    pub rename: bool,
    /// The plan only (true: the default), or apply it (false).
    #[serde(default = "yes")]
    pub dry_run: bool,
    /// Delete the keys under `to` that `from` does not hold.
    #[serde(default)]
    pub delete_missing: bool,
    #[serde(default)]
    pub leases: ImportLeases,
    /// To apply: the `revision` of the dry run that was confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_revision: Option<Revision>,
}

/// `POST /api/v1/copy`: the import's plan and outcome onto `to`, and what
/// a rename did to `from`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CopyBody {
    pub copy: ImportBody,
    /// The revision `from` was read at.
    pub source_revision: Revision,
    /// Keys under `from` then.
    pub source_keys: u64,
    pub rename: bool,
    /// Keys deleted from `from` (a rename applied).
    pub removed: u64,
    /// Keys of `from` a rename left there because they changed since the
    /// dry run, each with both sides (`after` absent: it was a delete).
    pub removal_conflicts: Vec<ImportConflict>,
    /// Keys of `from` a rename left there because their copy was not
    /// written (a conflict under `to`, or an apply cut short).
    pub not_moved: u64,
    /// Why the removal stopped before its end (etcd unavailable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removal_interrupted: Option<String>,
}
