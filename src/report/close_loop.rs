//! Whether a run closed the loop: after it created groups, an entitlement aggregation of
//! the Alation SCIM source in IdentityNow, and whether each created group is now one of
//! that source's entitlements (which access profiles can then bundle).

use super::SourceInfo;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What became of the aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoopState {
    /// The aggregation finished and every created group is an entitlement.
    Closed,
    /// The aggregation finished, but some created groups are not entitlements yet.
    Incomplete,
    /// Not tried: the token may not start an aggregation.
    NotDone,
    /// The aggregation did not finish within `identitynow.scim_aggregation_timeout_secs`.
    TimedOut,
    /// The source is unknown, the aggregation failed, or its entitlements could not be read.
    Failed,
    /// Recorded by a later version.
    #[serde(other)]
    Unknown,
}

impl LoopState {
    pub fn as_str(self) -> &'static str {
        match self {
            LoopState::Closed => "closed",
            LoopState::Incomplete => "incomplete",
            LoopState::NotDone => "not_done",
            LoopState::TimedOut => "timed_out",
            LoopState::Failed => "failed",
            LoopState::Unknown => "unknown",
        }
    }
}

/// One created group, and whether the SCIM source lists it as an entitlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoopGroup {
    pub name: String,
    /// Its entitlement id in IdentityNow, when it is one.
    pub entitlement_id: Option<String>,
}

/// The close-the-loop step of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseLoop {
    pub state: LoopState,
    /// The Alation SCIM source, as resolved (`None` when it could not be).
    pub source: Option<SourceInfo>,
    /// The aggregation's task, once started.
    pub task_id: Option<String>,
    /// Said for people: what happened, and what to do when it did not work.
    pub message: String,
    /// The groups the run created, in run order.
    pub groups: Vec<LoopGroup>,
}

/// The reason recorded when the token may not start an aggregation.
pub const NEEDS_PAT: &str = "not done: needs a personal access token (ORG_ADMIN)";

impl CloseLoop {
    /// How many created groups are entitlements now.
    pub fn entitlements(&self) -> usize {
        self.groups
            .iter()
            .filter(|g| g.entitlement_id.is_some())
            .count()
    }
}

impl fmt::Display for CloseLoop {
    /// One line: `closed: 3 of 3 created groups are entitlements of "Alation SCIM"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.state.as_str(), self.message)
    }
}
