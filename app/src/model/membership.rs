//! Membership changes of the operations console: add a learner, promote it,
//! remove a member, move the leader (`/api/v1/ops/members`,
//! `/api/v1/ops/move-leader`). Each answers the cluster before and after
//! with its quorum, and the checks that must hold.

use serde::{Deserialize, Serialize};

use super::ops::Check;
use super::MemberId;

/// A membership change, as its body and the audit log name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MembershipAction {
    AddLearner,
    Promote,
    Remove,
    MoveLeader,
}

impl MembershipAction {
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipAction::AddLearner => "add_learner",
            MembershipAction::Promote => "promote",
            MembershipAction::Remove => "remove",
            MembershipAction::MoveLeader => "move_leader",
        }
    }
}

/// `POST /api/v1/ops/members`: add a member as a learner.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MemberAddRequest {
    /// The `--name` the new member will start with.
    pub name: String,
    /// Where the other members reach it (`http(s)://host:port`).
    pub peer_urls: Vec<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /api/v1/ops/members/{id}/promote` and `DELETE /api/v1/ops/members/{id}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MemberChangeRequest {
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /api/v1/ops/move-leader`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MoveLeaderRequest {
    /// The voting member to lead.
    pub to: MemberId,
    #[serde(default)]
    pub dry_run: bool,
}

/// One member in a cluster's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ShapeMember {
    pub id: MemberId,
    /// Empty for a member added but not started yet.
    pub name: String,
    pub peer_urls: Vec<String>,
    pub is_learner: bool,
    pub is_leader: bool,
    /// It answered its status just now.
    pub healthy: bool,
}

/// The quorum arithmetic of a cluster: learners do not vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Quorum {
    pub voters: u32,
    /// Votes a change (or an election) needs: `voters / 2 + 1`.
    pub quorum: u32,
    /// Voters that answer now.
    pub healthy_voters: u32,
    /// Voters that may fail with the cluster still working: `voters - quorum`.
    pub tolerates: u32,
}

impl Quorum {
    pub fn of(members: &[ShapeMember]) -> Quorum {
        let voters = members.iter().filter(|m| !m.is_learner).count() as u32;
        let healthy_voters = members.iter().filter(|m| !m.is_learner && m.healthy).count() as u32;
        let quorum = voters / 2 + 1;
        Quorum {
            voters,
            quorum,
            healthy_voters,
            tolerates: voters.saturating_sub(quorum),
        }
    }

    /// `3 voting members, quorum 2, 3 answer: tolerates 1 failure`.
    pub fn describe(&self) -> String {
        let plural = |n: u32, one: &str, many: &str| if n == 1 { one.to_owned() } else { many.to_owned() };
        format!(
            "{} voting {}, quorum {}, {} {}: tolerates {} {}",
            self.voters,
            plural(self.voters, "member", "members"),
            self.quorum,
            self.healthy_voters,
            plural(self.healthy_voters, "answers", "answer"),
            self.tolerates,
            plural(self.tolerates, "failure", "failures"),
        )
    }
}

/// A cluster's members and quorum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ClusterShape {
    pub members: Vec<ShapeMember>,
    pub quorum: Quorum,
}

impl ClusterShape {
    pub fn new(members: Vec<ShapeMember>) -> ClusterShape {
        let quorum = Quorum::of(&members);
        ClusterShape { members, quorum }
    }
}

/// A learner's distance from the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LearnerLag {
    pub leader_raft_index: u64,
    pub learner_applied_index: u64,
    /// Raft entries the learner has still to apply.
    pub entries_behind: u64,
}

/// The preview of a membership change, and what etcd reports after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MembershipBody {
    pub action: MembershipAction,
    /// The member changed: the new member's id once added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberId>,
    pub before: ClusterShape,
    /// The cluster as it would be (a preview) or as etcd lists it after the
    /// change (applied).
    pub after: ClusterShape,
    /// What must be true first; the change is refused while any is not.
    pub checks: Vec<Check>,
    /// For a learner: the flags the new member's `etcd` must start with
    /// (besides its own `--data-dir`, empty, and client URLs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// For a promotion: how far the learner is behind the leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<LearnerLag>,
    pub applied: bool,
}

#[cfg(test)]
mod tests {
    use super::{Quorum, ShapeMember};
    use crate::model::MemberId;

    fn member(id: u64, is_learner: bool, healthy: bool) -> ShapeMember {
        ShapeMember {
            id: MemberId(id),
            name: format!("m{id}"),
            peer_urls: vec![],
            is_learner,
            is_leader: false,
            healthy,
        }
    }

    #[test]
    fn learners_do_not_vote_and_the_quorum_is_a_majority() {
        let three = Quorum::of(&[member(1, false, true), member(2, false, true), member(3, false, false)]);
        assert_eq!(
            (three.voters, three.quorum, three.healthy_voters, three.tolerates),
            (3, 2, 2, 1)
        );
        let with_learner = Quorum::of(&[member(1, false, true), member(2, false, true), member(3, true, true)]);
        assert_eq!(
            (with_learner.voters, with_learner.quorum, with_learner.tolerates),
            (2, 2, 0)
        );
        let four = Quorum::of(&[
            member(1, false, true),
            member(2, false, true),
            member(3, false, true),
            member(4, false, true),
        ]);
        assert_eq!((four.quorum, four.tolerates), (3, 1));
        assert_eq!(
            four.describe(),
            "4 voting members, quorum 3, 4 answer: tolerates 1 failure"
        );
        assert_eq!(Quorum::of(&[]).quorum, 1);
    }
}
