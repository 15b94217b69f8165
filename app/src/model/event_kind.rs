//! What a timeline [`Event`](super::Event) is about: one word per kind of
//! thing that happens, spelled on the wire in snake case.

use serde::{Deserialize, Serialize};

/// The kind of a timeline event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    InstanceRegistered,
    InstanceUpdated,
    InstanceDeregistered,
    LeaseExpired,
    LeaseRevoked,
    LockAcquired,
    LockWaiting,
    LockReleased,
    LeaderElected,
    CandidateJoined,
    CandidateLeft,
    /// An operator's action, allowed or refused: its `revision` is the one
    /// the registry was at.
    Audit,
    /// etcd answered at a lower revision or as another cluster and was
    /// listed again (`detail`: `from_revision`, `to_revision`, `cluster_id`,
    /// `message`).
    EtcdWentBack,
    /// An eviction storm began or ended (`detail`: `phase` `started` or
    /// `ended`, `services`, `expired`, `instances`, `window_seconds`).
    EvictionStorm,
    /// A kind this build does not know (from a newer server): shown, never
    /// an error. Never sent.
    #[serde(other)]
    Unknown,
}

impl EventKind {
    /// Every kind a server sends, in the order a filter lists them.
    pub const ALL: [EventKind; 14] = [
        EventKind::InstanceRegistered,
        EventKind::InstanceUpdated,
        EventKind::InstanceDeregistered,
        EventKind::LeaseExpired,
        EventKind::LeaseRevoked,
        EventKind::LockAcquired,
        EventKind::LockWaiting,
        EventKind::LockReleased,
        EventKind::LeaderElected,
        EventKind::CandidateJoined,
        EventKind::CandidateLeft,
        EventKind::Audit,
        EventKind::EtcdWentBack,
        EventKind::EvictionStorm,
    ];

    /// The kind as the wire spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::InstanceRegistered => "instance_registered",
            EventKind::InstanceUpdated => "instance_updated",
            EventKind::InstanceDeregistered => "instance_deregistered",
            EventKind::LeaseExpired => "lease_expired",
            EventKind::LeaseRevoked => "lease_revoked",
            EventKind::LockAcquired => "lock_acquired",
            EventKind::LockWaiting => "lock_waiting",
            EventKind::LockReleased => "lock_released",
            EventKind::LeaderElected => "leader_elected",
            EventKind::CandidateJoined => "candidate_joined",
            EventKind::CandidateLeft => "candidate_left",
            EventKind::Audit => "audit",
            EventKind::EtcdWentBack => "etcd_went_back",
            EventKind::EvictionStorm => "eviction_storm",
            EventKind::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_spelled_on_the_wire_as_as_str_says() {
        for kind in EventKind::ALL {
            let text = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(text, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<EventKind>(&text).ok(), Some(kind));
        }
        let newer = serde_json::from_str::<EventKind>("\"member_added\"").ok();
        assert_eq!(newer, Some(EventKind::Unknown));
    }
}
