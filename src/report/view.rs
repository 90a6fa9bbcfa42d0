//! The one JSON shape of a run: `groupsync run --json`, `groupsync executions show --json`,
//! `GET /runs/{id}` (once the run finished) and `GET /executions/{id}` all print a
//! [`RunView`]. `docs/json.md` describes it field by field.

use super::{
    CloseLoop, Counts, GroupOutcome, NoticeOutcome, RunFailure, RunReport, SourceInfo, Stage,
};
use crate::store::{RunDetail, RunRecord};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A finished run as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunView {
    /// The run's id.
    pub id: String,
    /// The same id under its former name, kept for one release; read `id`.
    pub run_id: String,
    /// `succeeded`, `partially_failed`, `failed` or `dry_run`.
    pub status: String,
    /// The job the run was of (`[[jobs]]`); `default` without `[[jobs]]`.
    #[serde(default = "default_job")]
    pub job: String,
    /// What caused the run, joined by `+` (`webhook+schedule`).
    pub trigger: String,
    /// The same, one kind per element, in order of arrival.
    pub triggers: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub dry_run: bool,
    /// The AD source, as resolved (`null` if the run failed before resolving it).
    pub source: Option<SourceInfo>,
    pub counts: Counts,
    /// Why the run stopped (`null` when it did not).
    pub error: Option<RunFailure>,
    /// The stage a failed or partly failed run failed in (`source`, `plan`, `guards`,
    /// `apply`, `record`, `notify`); `null` otherwise, and for a failed run read from the
    /// history (which keeps only its error).
    #[serde(default)]
    pub stage: Option<Stage>,
    /// The guard the run trips: a refused run's (also its `error`), or what would refuse a
    /// real run in place of this dry run (shown by the run itself; the history keeps only
    /// a refused run's). `null` when none.
    pub guard: Option<RunFailure>,
    /// One per source group, in source order (a case twin found existing carries the
    /// name it `matched`), then one per orphan: a group groupsync owns whose AD group is gone.
    #[serde(serialize_with = "super::serialize_outcomes")]
    pub outcomes: Vec<GroupOutcome>,
    /// Groups found existing as the run before had found them (same name, same target
    /// group): counted in `counts.existed` but not in `outcomes`, as the history keeps no
    /// row for them. `0` for a run's own output, which lists every group.
    #[serde(default)]
    pub unchanged_omitted: usize,
    pub notices: Vec<NoticeOutcome>,
    /// After a run that created groups, the entitlement aggregation of the Alation SCIM
    /// source and whether each created group is now an entitlement; `null` when the run
    /// had none to do (no `identitynow.scim_source`, nothing created, a dry run).
    #[serde(default)]
    pub close_loop: Option<CloseLoop>,
}

impl RunView {
    /// The view of a recorded run with its outcomes, notices and the guard it trips.
    pub fn new(
        run: RunRecord,
        outcomes: Vec<GroupOutcome>,
        notices: Vec<NoticeOutcome>,
        guard: Option<RunFailure>,
    ) -> Self {
        let stage = if run.status == super::RunStatus::PartiallyFailed.as_str() {
            Some(super::failed_stage_of(&run.counts, &notices))
        } else {
            // kept with the run since the stage was recorded; older runs have none
            run.stage
                .filter(|_| run.status == super::RunStatus::Failed.as_str())
        };
        RunView {
            stage,
            run_id: run.id.clone(),
            id: run.id,
            status: run.status,
            job: run.job,
            triggers: run
                .trigger
                .split('+')
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
            trigger: run.trigger,
            started_at: run.started_at,
            finished_at: run.finished_at,
            dry_run: run.dry_run,
            source: run.source,
            counts: run.counts,
            error: run.error,
            close_loop: run.close_loop,
            unchanged_omitted: run.unchanged,
            guard,
            outcomes,
            notices,
        }
    }

    /// The same view, of the job `job`.
    pub fn of_job(self, job: &str) -> Self {
        RunView {
            job: job.to_owned(),
            ..self
        }
    }

    /// The view of `report`, a run caused by `trigger` (kinds joined by `+`).
    pub fn of_report(report: &RunReport, trigger: &str) -> Self {
        super::RunSummary::of(report, trigger).view(report.outcomes.clone(), 0)
    }
}

fn default_job() -> String {
    crate::config::DEFAULT_JOB.to_owned()
}

impl From<RunDetail> for RunView {
    fn from(d: RunDetail) -> Self {
        let guard = d.run.guard();
        RunView::new(d.run, d.outcomes, d.notices, guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RunId;
    use crate::report::{ErrorKind, Outcome};

    #[test]
    fn a_report_and_its_record_give_the_same_view() {
        let mut r = RunReport::started(RunId::new(), Utc::now(), true);
        r.outcomes.push(GroupOutcome {
            source_id: "e1".into(),
            name: "Finance".into(),
            source_name: None,
            outcome: Outcome::WouldCreate,
        });
        let view = RunView::of_report(&r, "webhook+schedule");
        assert_eq!(view.id, r.run_id.0);
        assert_eq!(view.run_id, view.id);
        assert_eq!(view.status, "dry_run");
        assert_eq!(view.triggers, ["webhook", "schedule"]);
        assert_eq!(view.counts.would_create, 1);
        let detail = RunDetail {
            run: RunRecord::of(&r, "webhook+schedule"),
            outcomes: r.outcomes.clone(),
            notices: vec![],
        };
        assert_eq!(RunView::from(detail), view);
    }

    #[test]
    fn the_error_is_typed_or_null() {
        let ok = RunReport::started(RunId::new(), Utc::now(), false);
        let json = serde_json::to_value(RunView::of_report(&ok, "cli")).unwrap();
        assert!(json["error"].is_null());
        let failed = RunReport::failed(
            RunId::new(),
            Utc::now(),
            false,
            RunFailure::new(ErrorKind::Store, "disk full"),
        );
        let json = serde_json::to_value(RunView::of_report(&failed, "cli")).unwrap();
        assert_eq!(
            json["error"],
            serde_json::json!({"kind": "store", "message": "disk full"})
        );
        assert_eq!(json["status"], "failed");
    }
}
