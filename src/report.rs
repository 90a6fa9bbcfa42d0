//! What a run did: one outcome per source group, plus counts. The report is what the
//! summary, the notices and the execution history are made from.

use crate::domain::{RunId, each_name_class, first_by_id};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

mod close_loop;
mod summary;
mod view;
pub use close_loop::{CloseLoop, LoopGroup, LoopState, NEEDS_PAT};
pub use summary::RunSummary;
pub use view::RunView;

/// Why a source group was not sent to the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    /// The name is empty or only whitespace.
    EmptyName,
    /// Another source group has the same name, ignoring case. Recorded by earlier
    /// versions, which skipped case twins; twins are now found existing under the name of
    /// the first of them (see [`matched_names`]).
    DuplicateInSource { others: Vec<String> },
    /// The name is longer than `sync.max_name_length` characters (only when it is set).
    TooLong { chars: usize, max: usize },
    /// The name holds a character the target cannot store (NUL).
    Unstorable { detail: String },
    /// A scoping pattern left the group out (`sync.exclude_names`, `sync.exclude_dns`), or
    /// it matched none of the include patterns (`sync.include_names`, `sync.include_dns`):
    /// `rule` names the key (with the pattern's index for an exclude), `pattern` the
    /// pattern that matched (none for an include list nothing matched).
    OutOfScope {
        rule: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pattern: Option<String>,
    },
    /// The name template (`sync.name_*`) leaves nothing of the name.
    EmptyMappedName,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::EmptyName => f.write_str("the name is empty or whitespace"),
            SkipReason::DuplicateInSource { others } => {
                write!(f, "another source group has the same name ignoring case: ")?;
                let quoted: Vec<String> = others.iter().map(|o| format!("{o:?}")).collect();
                f.write_str(&quoted.join(", "))
            }
            SkipReason::TooLong { chars, max } => {
                write!(
                    f,
                    "the name has {chars} characters, more than the {max} allowed"
                )
            }
            SkipReason::Unstorable { detail } => {
                write!(f, "the target cannot hold this name: {detail}")
            }
            SkipReason::OutOfScope {
                rule,
                pattern: Some(pattern),
            } => write!(f, "left out by {rule} ({pattern:?})"),
            SkipReason::OutOfScope {
                rule,
                pattern: None,
            } => write!(f, "left out: it matches none of {rule}"),
            SkipReason::EmptyMappedName => {
                f.write_str("the name template (sync.name_*) leaves nothing of the name")
            }
        }
    }
}

/// What happened to one source group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Created {
        scim_id: String,
    },
    Existed {
        scim_id: String,
    },
    /// Dry run: the group would have been created.
    WouldCreate,
    Skipped {
        reason: SkipReason,
    },
    Failed {
        error: String,
    },
    /// A same-named group without `externalId` was given ours (`sync.adopt`): groupsync's
    /// own from now on.
    Adopted {
        scim_id: String,
    },
    /// Dry run: the group found existing would have been adopted.
    WouldAdopt {
        scim_id: String,
    },
    /// Our group was renamed after its AD group (`sync.rename`); `from` is its former name.
    Renamed {
        scim_id: String,
        from: String,
    },
    /// Our group still carries the AD group's former name `from`: renamed with
    /// `sync.rename`, in a run that is not a dry run.
    WouldRename {
        scim_id: String,
        from: String,
    },
    /// A group groupsync owns whose AD group is gone: reported, not deleted (yet). The
    /// outcome's `source_id` is the group's `externalId`, its name the target's.
    Orphan {
        scim_id: String,
    },
    /// Dry run: the orphan would have been deleted.
    WouldDelete {
        scim_id: String,
    },
    /// The orphan was deleted from the target (`sync.delete_orphans`).
    Deleted {
        scim_id: String,
    },
}

impl Outcome {
    /// Whether this is about a target group whose AD group is gone, not a source group.
    pub fn is_orphan(&self) -> bool {
        matches!(
            self,
            Outcome::Orphan { .. } | Outcome::WouldDelete { .. } | Outcome::Deleted { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOutcome {
    /// The entitlement id in IdentityNow.
    pub source_id: String,
    /// The name sent to the target (the source's, as the name template maps it).
    pub name: String,
    /// The name in the source, when the name template changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// For each case twin among `outcomes` (found existing, its name equal ignoring case to a
/// group with a smaller entitlement id), the name of the first of its name by id: the
/// name it was found existing under. Keyed by position.
pub fn matched_names(outcomes: &[GroupOutcome]) -> HashMap<usize, &str> {
    let mut matched = HashMap::new();
    let groups = (0..outcomes.len()).filter(|i| !outcomes[*i].outcome.is_orphan());
    each_name_class(
        groups,
        |i| &outcomes[i].name,
        |same| {
            if same.len() < 2 {
                return;
            }
            let first = &outcomes[first_by_id(same, |i| &outcomes[i].source_id)];
            for &i in same {
                let o = &outcomes[i];
                if matches!(o.outcome, Outcome::Existed { .. }) && o.source_id != first.source_id {
                    matched.insert(i, first.name.as_str());
                }
            }
        },
    );
    matched
}

/// The outcomes as JSON, each case twin with the name it `matched`.
pub fn serialize_outcomes<S: serde::Serializer>(
    outcomes: &[GroupOutcome],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    #[derive(Serialize)]
    struct WithMatch<'a> {
        #[serde(flatten)]
        outcome: &'a GroupOutcome,
        #[serde(skip_serializing_if = "Option::is_none")]
        matched: Option<&'a str>,
    }
    let matched = matched_names(outcomes);
    let mut seq = serializer.serialize_seq(Some(outcomes.len()))?;
    for (i, outcome) in outcomes.iter().enumerate() {
        seq.serialize_element(&WithMatch {
            outcome,
            matched: matched.get(&i).copied(),
        })?;
    }
    seq.end()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Source groups (orphans are not among them).
    pub source: usize,
    pub created: usize,
    pub existed: usize,
    pub would_create: usize,
    pub skipped: usize,
    pub failed: usize,
    #[serde(default)]
    pub adopted: usize,
    #[serde(default)]
    pub would_adopt: usize,
    #[serde(default)]
    pub renamed: usize,
    #[serde(default)]
    pub would_rename: usize,
    /// Orphans reported and not deleted.
    #[serde(default)]
    pub orphans: usize,
    #[serde(default)]
    pub would_delete: usize,
    #[serde(default)]
    pub deleted: usize,
}

/// The run's overall result, for the exit status, the history and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    PartiallyFailed,
    /// Aborted before any write (source unreadable, target unreachable, bad config).
    Failed,
    /// A guard stopped the run before any write (`sync::guards`); `--force` overrides it.
    Refused,
    /// Another process's run held the lease: this run did nothing (the other run does the
    /// same work).
    Skipped,
    /// The run's process stopped before the run's end was recorded (read from the history).
    Interrupted,
    DryRun,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::PartiallyFailed => "partially_failed",
            RunStatus::Failed => "failed",
            RunStatus::Refused => "refused",
            RunStatus::Skipped => "skipped",
            RunStatus::Interrupted => "interrupted",
            RunStatus::DryRun => "dry_run",
        }
    }
}

/// `n` and the noun, plural unless `n` is 1: `1 group`, `30 groups`, `0 messages`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The stages of a run, in order: the one a failed run stopped in is named in its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Source,
    Plan,
    Guards,
    Apply,
    Record,
    Notify,
}

impl Stage {
    /// The stage named `text` ([`Stage::as_str`]); `None` for a name this version does not know.
    pub fn parse(text: &str) -> Option<Stage> {
        [
            Stage::Source,
            Stage::Plan,
            Stage::Guards,
            Stage::Apply,
            Stage::Record,
            Stage::Notify,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Source => "source",
            Stage::Plan => "plan",
            Stage::Guards => "guards",
            Stage::Apply => "apply",
            Stage::Record => "record",
            Stage::Notify => "notify",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: RunId,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub dry_run: bool,
    /// The AD source, as resolved (`None` if the run failed before resolving it).
    pub source: Option<SourceInfo>,
    #[serde(serialize_with = "serialize_outcomes")]
    pub outcomes: Vec<GroupOutcome>,
    /// Set when the run stopped before or during its writes; no outcome then means
    /// "not attempted".
    pub error: Option<RunFailure>,
    /// The email notices the run produced and whether each went out.
    pub notices: Vec<NoticeOutcome>,
    /// The guard this run trips: a refused run also has it as its `error`; a dry run only
    /// shows it (what a real run would do).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<RunFailure>,
    /// How many groups were read from the source, also when the run stopped before it
    /// read them all or before it had an outcome for each.
    pub read: usize,
    /// The stage the run was in when its `error` stopped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// The entitlement aggregation of the Alation SCIM source after the run created
    /// groups (`identitynow.scim_source`); `None` when there was none to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_loop: Option<CloseLoop>,
}

/// What kind of failure stopped a run: what a user does about it differs by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// IdentityNow could not be read (or the AD source not resolved).
    SourceUnreadable,
    /// The SCIM target refused our credentials.
    TargetCredentials,
    /// The SCIM target could not be reached, or failed every lookup.
    TargetUnreachable,
    /// The store could not be read or written.
    Store,
    /// groupsync was stopped before the run finished.
    Shutdown,
    /// The run's task died.
    Internal,
    /// A guard refused to let the run write.
    GuardRefused,
    /// The run took longer than `sync.max_run_secs` and stopped before its next write.
    Deadline,
    /// The run's process stopped (killed, machine lost) before the run recorded its end.
    Interrupted,
    /// Another process held the run lease for longer than this run would wait.
    LeaseHeld,
    /// Recorded before kinds were kept, or by a later version.
    #[serde(other)]
    Unknown,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::SourceUnreadable,
        ErrorKind::TargetCredentials,
        ErrorKind::TargetUnreachable,
        ErrorKind::Store,
        ErrorKind::Shutdown,
        ErrorKind::Internal,
        ErrorKind::GuardRefused,
        ErrorKind::Deadline,
        ErrorKind::Interrupted,
        ErrorKind::LeaseHeld,
        ErrorKind::Unknown,
    ];

    /// The stable machine name (history, JSON, the `reason` metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::SourceUnreadable => "source_unreadable",
            ErrorKind::TargetCredentials => "target_credentials",
            ErrorKind::TargetUnreachable => "target_unreachable",
            ErrorKind::Store => "store",
            ErrorKind::Shutdown => "shutdown",
            ErrorKind::Internal => "internal",
            ErrorKind::GuardRefused => "guard_refused",
            ErrorKind::Deadline => "deadline",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::LeaseHeld => "lease_held",
            ErrorKind::Unknown => "unknown",
        }
    }

    /// The kind named `name`; [`ErrorKind::Unknown`] for a name this version does not know.
    pub fn parse(name: &str) -> ErrorKind {
        ErrorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .unwrap_or(ErrorKind::Unknown)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a run stopped, as the report, the history and the notices keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFailure {
    pub kind: ErrorKind,
    /// Said for people: what failed and what to check.
    pub message: String,
}

impl RunFailure {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> RunFailure {
        RunFailure {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for RunFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeOutcome {
    /// The notice's stable key (also the basis of its Message-ID).
    pub key: String,
    pub subject: String,
    pub state: NoticeState,
    /// Why it is not sent yet (`Queued`) or will not be (`Failed`); `None` once sent.
    pub error: Option<String>,
}

/// Where a notice is: notices are written to the store's outbox before they are sent, so
/// one the mail server did not take yet is not lost but waits for the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    /// Waiting in the outbox (the mail server was unavailable); sent by a later run.
    Queued,
    Sent,
    /// The mail server refused it for good (e.g. a rejected recipient); not retried.
    Failed,
}

impl NoticeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeState::Queued => "queued",
            NoticeState::Sent => "sent",
            NoticeState::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub id: String,
    pub name: String,
}

impl RunReport {
    /// The report of a run that has just started: nothing done yet.
    pub fn started(run_id: RunId, started_at: DateTime<Utc>, dry_run: bool) -> RunReport {
        RunReport {
            run_id,
            started_at,
            finished_at: started_at,
            dry_run,
            source: None,
            outcomes: vec![],
            error: None,
            notices: vec![],
            guard: None,
            read: 0,
            stage: None,
            close_loop: None,
        }
    }

    /// The report of a run that stopped for `error` before it got anywhere, finishing now.
    pub fn failed(
        run_id: RunId,
        started_at: DateTime<Utc>,
        dry_run: bool,
        error: RunFailure,
    ) -> RunReport {
        RunReport {
            finished_at: Utc::now(),
            error: Some(error),
            ..RunReport::started(run_id, started_at, dry_run)
        }
    }

    /// A copy of everything but the outcomes (there are none in the copy).
    pub fn without_outcomes(&self) -> RunReport {
        RunReport {
            run_id: self.run_id.clone(),
            started_at: self.started_at,
            finished_at: self.finished_at,
            dry_run: self.dry_run,
            source: self.source.clone(),
            outcomes: Vec::new(),
            error: self.error.clone(),
            notices: self.notices.clone(),
            guard: self.guard.clone(),
            read: self.read,
            stage: self.stage,
            close_loop: self.close_loop.clone(),
        }
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for o in &self.outcomes {
            if !o.outcome.is_orphan() {
                c.source += 1;
            }
            match o.outcome {
                Outcome::Created { .. } => c.created += 1,
                Outcome::Existed { .. } => c.existed += 1,
                Outcome::WouldCreate => c.would_create += 1,
                Outcome::Skipped { .. } => c.skipped += 1,
                Outcome::Failed { .. } => c.failed += 1,
                Outcome::Adopted { .. } => c.adopted += 1,
                Outcome::WouldAdopt { .. } => c.would_adopt += 1,
                Outcome::Renamed { .. } => c.renamed += 1,
                Outcome::WouldRename { .. } => c.would_rename += 1,
                Outcome::Orphan { .. } => c.orphans += 1,
                Outcome::WouldDelete { .. } => c.would_delete += 1,
                Outcome::Deleted { .. } => c.deleted += 1,
            }
        }
        // a run stopped while reading or planning has read more than it has outcomes for
        c.source = c.source.max(self.read);
        c
    }

    /// The stage a failed or partly failed run failed in: where its error stopped it, else
    /// apply when a group failed, else notify when a notice failed; `None` otherwise.
    pub fn failed_stage(&self) -> Option<Stage> {
        match self.status() {
            RunStatus::Failed => self.stage,
            RunStatus::PartiallyFailed => Some(failed_stage_of(&self.counts(), &self.notices)),
            _ => None,
        }
    }

    pub fn status(&self) -> RunStatus {
        if let Some(error) = &self.error {
            match error.kind {
                ErrorKind::GuardRefused => RunStatus::Refused,
                ErrorKind::LeaseHeld => RunStatus::Skipped,
                ErrorKind::Interrupted => RunStatus::Interrupted,
                _ => RunStatus::Failed,
            }
        } else if self.counts().failed > 0
            || self.notices.iter().any(|n| n.state == NoticeState::Failed)
        {
            RunStatus::PartiallyFailed
        } else if self.dry_run {
            RunStatus::DryRun
        } else {
            RunStatus::Succeeded
        }
    }
}

/// The stage a run that ended partly failed failed in: apply when a group failed, notify
/// otherwise (a notice failed).
pub fn failed_stage_of(counts: &Counts, notices: &[NoticeOutcome]) -> Stage {
    if counts.failed > 0 || notices.iter().all(|n| n.state != NoticeState::Failed) {
        Stage::Apply
    } else {
        Stage::Notify
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str, outcome: Outcome) -> GroupOutcome {
        GroupOutcome {
            source_id: format!("id-{name}"),
            name: name.into(),
            source_name: None,
            outcome,
        }
    }

    fn report(outcomes: Vec<GroupOutcome>) -> RunReport {
        RunReport {
            run_id: RunId::new(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            dry_run: false,
            source: None,
            outcomes,
            error: None,
            notices: vec![],
            guard: None,
            read: 0,
            stage: None,
            close_loop: None,
        }
    }

    #[test]
    fn counts_and_status_follow_outcomes() {
        let mut r = report(vec![
            outcome(
                "a",
                Outcome::Created {
                    scim_id: "1".into(),
                },
            ),
            outcome(
                "b",
                Outcome::Existed {
                    scim_id: "2".into(),
                },
            ),
            outcome(
                "c",
                Outcome::Skipped {
                    reason: SkipReason::EmptyName,
                },
            ),
        ]);
        assert_eq!(r.counts().created, 1);
        assert_eq!(r.counts().existed, 1);
        assert_eq!(r.counts().skipped, 1);
        assert_eq!(r.status(), RunStatus::Succeeded);
        r.outcomes.push(outcome(
            "d",
            Outcome::Failed {
                error: "boom".into(),
            },
        ));
        assert_eq!(r.status(), RunStatus::PartiallyFailed);
        r.error = Some(RunFailure::new(
            ErrorKind::SourceUnreadable,
            "source unreadable",
        ));
        assert_eq!(r.status(), RunStatus::Failed);
    }

    #[test]
    fn a_failure_serializes_as_kind_and_message() {
        let r = RunReport::failed(
            RunId::new(),
            Utc::now(),
            false,
            RunFailure::new(ErrorKind::TargetCredentials, "token rejected"),
        );
        assert_eq!(r.status(), RunStatus::Failed);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json["error"],
            serde_json::json!({"kind": "target_credentials", "message": "token rejected"})
        );
        let back: RunFailure = serde_json::from_value(json["error"].clone()).unwrap();
        assert_eq!(back, r.error.unwrap());
    }

    #[test]
    fn kinds_have_stable_names_and_unknown_ones_read_back() {
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(k.as_str()), k);
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(ErrorKind::parse("from_the_future"), ErrorKind::Unknown);
        let later: ErrorKind = serde_json::from_str("\"from_the_future\"").unwrap();
        assert_eq!(later, ErrorKind::Unknown);
    }

    #[test]
    fn skip_reasons_read_well() {
        let r = SkipReason::DuplicateInSource {
            others: vec!["FINANCE".into()],
        };
        assert_eq!(
            r.to_string(),
            "another source group has the same name ignoring case: \"FINANCE\""
        );
    }
}
