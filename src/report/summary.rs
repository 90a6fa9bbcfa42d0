//! A finished run without its group outcomes: what the daemon keeps in memory. The
//! outcomes are in the history; a summary and the run's recorded outcomes make its view.

use super::{
    Counts, GroupOutcome, NoticeOutcome, RunFailure, RunReport, RunStatus, RunView, Stage,
};
use crate::domain::RunId;
use crate::store::RunRecord;

/// A run's id, status, counts, trigger, times, error, stage, guard and notices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub run_id: RunId,
    pub status: RunStatus,
    /// What the history keeps of the run besides its outcomes (the trigger among it).
    pub record: RunRecord,
    /// The stage the run failed in, as the run knew it (the history keeps only its error).
    pub stage: Option<Stage>,
    /// The guard the run trips (a dry run's too).
    pub guard: Option<RunFailure>,
    /// The run's notices, few whatever the number of groups.
    pub notices: Vec<NoticeOutcome>,
}

impl RunSummary {
    /// The summary of `report`, a run caused by `trigger` (kinds joined by `+`).
    pub fn of(report: &RunReport, trigger: &str) -> RunSummary {
        RunSummary {
            run_id: report.run_id.clone(),
            status: report.status(),
            record: RunRecord::of(report, trigger),
            stage: report.failed_stage(),
            guard: report.guard.clone(),
            notices: report.notices.clone(),
        }
    }

    pub fn counts(&self) -> Counts {
        self.record.counts
    }

    pub fn error(&self) -> Option<&RunFailure> {
        self.record.error.as_ref()
    }

    pub fn trigger(&self) -> &str {
        &self.record.trigger
    }

    /// The run's view with `outcomes` (read from the history, or none when it holds none),
    /// `unchanged_omitted` groups found existing left out of them.
    pub fn view(&self, outcomes: Vec<GroupOutcome>, unchanged_omitted: usize) -> RunView {
        RunView {
            stage: self.stage,
            unchanged_omitted,
            ..RunView::new(
                self.record.clone(),
                outcomes,
                self.notices.clone(),
                self.guard.clone(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ErrorKind, Outcome};
    use chrono::Utc;

    #[test]
    fn a_summary_with_the_outcomes_gives_the_view_of_the_report() {
        let mut r = RunReport::started(RunId::new(), Utc::now(), false);
        for (name, outcome) in [
            (
                "Ops",
                Outcome::Created {
                    scim_id: "1".into(),
                },
            ),
            (
                "Dev",
                Outcome::Failed {
                    error: "boom".into(),
                },
            ),
        ] {
            r.outcomes.push(GroupOutcome {
                source_id: format!("e-{name}"),
                name: name.into(),
                source_name: None,
                outcome,
            });
        }
        r.guard = Some(RunFailure::new(ErrorKind::GuardRefused, "too many"));
        let summary = RunSummary::of(&r, "manual+schedule");
        assert_eq!(summary.status, RunStatus::PartiallyFailed);
        assert_eq!(summary.counts().failed, 1);
        assert_eq!(summary.trigger(), "manual+schedule");
        assert_eq!(
            summary.view(r.outcomes.clone(), 0),
            RunView::of_report(&r, "manual+schedule")
        );
        let without = summary.view(vec![], 0);
        assert!(without.outcomes.is_empty());
        assert_eq!(without.counts.created, 1, "the counts stay in the summary");
        assert_eq!(without.stage, Some(Stage::Apply));
    }
}
