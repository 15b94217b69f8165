//! WebSocket messages and the REST error body.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{ErrorCode, Revision, Topic};

/// What the client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    Subscribe {
        topics: Vec<Topic>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<Revision>,
    },
    Unsubscribe {
        topics: Vec<Topic>,
    },
    Ping,
}

/// The state of the server's link to etcd, as `status` messages report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EtcdState {
    /// Watching, and the model is current.
    Connected,
    /// The link is down; the model is the last one synced.
    Reconnecting,
    /// The link is back and the model is being listed again.
    Resyncing,
}

impl EtcdState {
    pub fn as_str(self) -> &'static str {
        match self {
            EtcdState::Connected => "connected",
            EtcdState::Reconnecting => "reconnecting",
            EtcdState::Resyncing => "resyncing",
        }
    }
}

/// One change to a topic's collection.
///
/// `value` is kept as raw JSON: the server serializes each entity once, however
/// many clients it goes to, and the client decodes it into the topic's type.
/// (serde cannot read a `RawValue` inside an internally tagged enum, so
/// reading goes through a flat struct; writing uses the tag directly.)
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case", try_from = "FlatPatchOp")]
pub enum PatchOp {
    Upsert {
        id: String,
        /// The entity, as the topic's snapshot holds it (docs/websocket.md, Topics).
        #[cfg_attr(feature = "ssr", schema(value_type = serde_json::Value))]
        value: Box<RawValue>,
    },
    Remove {
        id: String,
    },
    Append {
        #[cfg_attr(feature = "ssr", schema(value_type = serde_json::Value))]
        value: Box<RawValue>,
    },
}

impl Clone for PatchOp {
    fn clone(&self) -> Self {
        match self {
            PatchOp::Upsert { id, value } => PatchOp::Upsert {
                id: id.clone(),
                value: value.to_owned(),
            },
            PatchOp::Remove { id } => PatchOp::Remove { id: id.clone() },
            PatchOp::Append { value } => PatchOp::Append {
                value: value.to_owned(),
            },
        }
    }
}

impl PatchOp {
    /// The entity id this op is about; `None` for appends, which are never merged.
    pub fn id(&self) -> Option<&str> {
        match self {
            PatchOp::Upsert { id, .. } | PatchOp::Remove { id } => Some(id),
            PatchOp::Append { .. } => None,
        }
    }
}

/// What the server sends.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", try_from = "FlatServerMsg")]
pub enum ServerMsg {
    /// `more`: the snapshot is large and continues in the patches that
    /// follow for its topic, at the same revision, until one without `more`.
    Snapshot {
        topic: Topic,
        revision: Revision,
        /// The topic's body (docs/websocket.md, Topics).
        #[cfg_attr(feature = "ssr", schema(value_type = serde_json::Value))]
        data: Box<RawValue>,
        #[serde(default, skip_serializing_if = "is_false")]
        more: bool,
    },
    Patch {
        topic: Topic,
        revision: Revision,
        ops: Vec<PatchOp>,
        #[serde(default, skip_serializing_if = "is_false")]
        more: bool,
    },
    Status {
        etcd: EtcdState,
        revision: Revision,
        /// Why the link is not connected (etcd's own words), when it is not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Pong {
        revision: Revision,
    },
    /// `topic`: the subscription refused (`too_large`, `not_served`), when
    /// the error is about one.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<Topic>,
    },
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Every field any patch op has, for reading.
#[derive(Deserialize)]
struct FlatPatchOp {
    op: String,
    id: Option<String>,
    value: Option<Box<RawValue>>,
}

impl TryFrom<FlatPatchOp> for PatchOp {
    type Error = String;

    fn try_from(flat: FlatPatchOp) -> Result<Self, String> {
        let missing = |field: &str| format!("a {} op needs {field}", flat.op);
        Ok(match flat.op.as_str() {
            "upsert" => PatchOp::Upsert {
                id: flat.id.clone().ok_or_else(|| missing("id"))?,
                value: flat.value.ok_or_else(|| missing("value"))?,
            },
            "remove" => PatchOp::Remove {
                id: flat.id.ok_or_else(|| missing("id"))?,
            },
            "append" => PatchOp::Append {
                value: flat.value.ok_or_else(|| missing("value"))?,
            },
            other => return Err(format!("unknown op {other:?}")),
        })
    }
}

/// Every field any server message has, for reading.
#[derive(Deserialize)]
struct FlatServerMsg {
    #[serde(rename = "type")]
    kind: String,
    topic: Option<Topic>,
    revision: Option<Revision>,
    data: Option<Box<RawValue>>,
    ops: Option<Vec<PatchOp>>,
    #[serde(default)]
    more: bool,
    etcd: Option<EtcdState>,
    error: Option<String>,
    code: Option<ErrorCode>,
    message: Option<String>,
}

impl TryFrom<FlatServerMsg> for ServerMsg {
    type Error = String;

    fn try_from(flat: FlatServerMsg) -> Result<Self, String> {
        let kind = flat.kind;
        let missing = |field: &str| format!("a {kind} message needs {field}");
        Ok(match kind.as_str() {
            "snapshot" => ServerMsg::Snapshot {
                topic: flat.topic.ok_or_else(|| missing("topic"))?,
                revision: flat.revision.ok_or_else(|| missing("revision"))?,
                data: flat.data.ok_or_else(|| missing("data"))?,
                more: flat.more,
            },
            "patch" => ServerMsg::Patch {
                topic: flat.topic.ok_or_else(|| missing("topic"))?,
                revision: flat.revision.ok_or_else(|| missing("revision"))?,
                ops: flat.ops.ok_or_else(|| missing("ops"))?,
                more: flat.more,
            },
            "status" => ServerMsg::Status {
                etcd: flat.etcd.ok_or_else(|| missing("etcd"))?,
                revision: flat.revision.ok_or_else(|| missing("revision"))?,
                error: flat.error,
            },
            "pong" => ServerMsg::Pong {
                revision: flat.revision.ok_or_else(|| missing("revision"))?,
            },
            "error" => ServerMsg::Error {
                code: flat.code.ok_or_else(|| missing("code"))?,
                message: flat.message.ok_or_else(|| missing("message"))?,
                topic: flat.topic,
            },
            other => return Err(format!("unknown message type {other:?}")),
        })
    }
}

/// `{"error":{"code","message"}}`, the body of every REST error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_as_documented() {
        let msg: Result<ClientMsg, _> =
            serde_json::from_str(r#"{"type":"subscribe","topics":["cluster","service:api"],"since":42}"#);
        assert_eq!(
            msg.ok(),
            Some(ClientMsg::Subscribe {
                topics: vec![Topic::Cluster, Topic::Service("api".into())],
                since: Some(42)
            })
        );
        let ping: Result<ClientMsg, _> = serde_json::from_str(r#"{"type":"ping"}"#);
        assert_eq!(ping.ok(), Some(ClientMsg::Ping));
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"subscribe","topics":["nope"]}"#).is_err());
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"jump"}"#).is_err());
    }

    #[test]
    fn server_messages_serialize_as_documented() {
        let value = RawValue::from_string(r#"{"a":1}"#.to_owned());
        let Ok(value) = value else {
            panic!("raw value");
        };
        let msg = ServerMsg::Patch {
            topic: Topic::Cluster,
            revision: 7,
            ops: vec![
                PatchOp::Upsert { id: "1".into(), value },
                PatchOp::Remove { id: "2".into() },
            ],
            more: false,
        };
        assert_eq!(
            serde_json::to_string(&msg).ok().as_deref(),
            Some(
                r#"{"type":"patch","topic":"cluster","revision":7,"ops":[{"op":"upsert","id":"1","value":{"a":1}},{"op":"remove","id":"2"}]}"#
            )
        );
        let text = serde_json::to_string(&msg).unwrap_or_default();
        let back: Result<ServerMsg, _> = serde_json::from_str(&text);
        let Ok(ServerMsg::Patch { ops, .. }) = back else {
            panic!("patch does not read back: {back:?}");
        };
        assert_eq!(ops.first().and_then(PatchOp::id), Some("1"));
        assert!(matches!(ops.first(), Some(PatchOp::Upsert { value, .. }) if value.get() == r#"{"a":1}"#));
        let snapshot: Result<ServerMsg, _> =
            serde_json::from_str(r#"{"type":"snapshot","topic":"cluster","revision":2,"data":{"members":[]}}"#);
        assert!(
            matches!(&snapshot, Ok(ServerMsg::Snapshot { data, revision: 2, .. }) if data.get() == r#"{"members":[]}"#),
            "{snapshot:?}"
        );
        let first_part: Result<ServerMsg, _> = serde_json::from_str(
            r#"{"type":"snapshot","topic":"service:a","revision":2,"data":{"instances":[]},"more":true}"#,
        );
        assert!(
            matches!(&first_part, Ok(ServerMsg::Snapshot { more: true, .. })),
            "{first_part:?}"
        );
        assert!(serde_json::from_str::<ServerMsg>(r#"{"type":"snapshot","topic":"cluster"}"#).is_err());
        assert!(serde_json::from_str::<ServerMsg>(r#"{"type":"nonsense"}"#).is_err());

        let status = ServerMsg::Status {
            etcd: EtcdState::Reconnecting,
            revision: 3,
            error: None,
        };
        assert_eq!(
            serde_json::to_string(&status).ok().as_deref(),
            Some(r#"{"type":"status","etcd":"reconnecting","revision":3}"#)
        );
    }
}
