//! Every metric's name and label, defined once, with the HELP text `/metrics` shows.
//!
//! The names and labels are what dashboards and alerts query: change none of them. The
//! metrics themselves are recorded by the log events in [`super::run_log`] and
//! [`super::daemon_log`].

/// Runs finished, by [`JOB`], [`TRIGGER`], [`OUTCOME`] and [`REASON`].
pub const RUNS: &str = "groupsync_runs_total";
/// Source groups handled, by [`JOB`] and [`OUTCOME`] (`created`, `existed`, `skipped`, `failed`).
pub const GROUPS: &str = "groupsync_groups_total";
/// How long runs took, in seconds, by [`JOB`] (a histogram with [`RUN_DURATION_BUCKETS`]).
pub const RUN_DURATION: &str = "groupsync_run_duration_seconds";
/// When the last fully successful run of a [`JOB`] finished (Unix seconds).
pub const LAST_SUCCESS: &str = "groupsync_last_success_timestamp_seconds";
/// HTTP exchanges with IdentityNow or the SCIM target, by [`SERVICE`] and [`STATUS`].
pub const UPSTREAM_REQUESTS: &str = "groupsync_upstream_requests_total";
/// Email notices, by [`RESULT`] (`sent`, `failed`, `deferred`).
pub const NOTICES: &str = "groupsync_notices_total";
/// Triggers received, by [`JOB`], [`KIND`] and [`RESULT`] (`queued`, `coalesced`, `refused`).
pub const TRIGGERS: &str = "groupsync_triggers_total";
/// Webhook deliveries, by [`RESULT`] (`accepted`, `unauthorized`, `bad_request`,
/// `too_large`, `other_source`, `not_success`, `refused`).
pub const WEBHOOK_EVENTS: &str = "groupsync_webhook_events_total";
/// Task-status polls, by [`RESULT`] (`new`, `unchanged`, `baseline`, `failed`).
pub const POLLS: &str = "groupsync_polls_total";
/// Group aggregations started before scheduled runs, by [`RESULT`].
pub const AGGREGATIONS: &str = "groupsync_group_aggregations_total";
/// 1 while a run of the [`JOB`] is in progress.
pub const RUN_IN_PROGRESS: &str = "groupsync_run_in_progress";
/// When the schedule fires next (Unix seconds).
pub const NEXT_SCHEDULED: &str = "groupsync_next_scheduled_timestamp_seconds";

/// When the SCIM token expires (Unix seconds), when groupsync knows it (a JWT's `exp`, or
/// `scim.token_expires_at`).
pub const SCIM_TOKEN_EXPIRY: &str = "groupsync_scim_token_expiry_timestamp_seconds";

/// Label: the job (`[[jobs]]`) a run, a trigger or a group is of; `default` without
/// `[[jobs]]`.
pub const JOB: &str = "job";
/// The SCIM requests allowed in flight now, by [`OPERATION`] (`lookups`, `creates`): the
/// configured concurrency, lowered while the server answers 429 or slows down.
pub const SCIM_CONCURRENCY: &str = "groupsync_scim_concurrency_limit";

/// Label: what asked for the run (`cli`, `schedule`, `webhook`, …, joined by `+`).
pub const TRIGGER: &str = "trigger";
/// Label: how a run ended, or what became of a group.
pub const OUTCOME: &str = "outcome";
/// Label of [`RUNS`] saying why a failed run stopped: its error kind (`source_unreadable`,
/// `target_credentials`, …), `none` for a run that did not stop.
pub const REASON: &str = "reason";
/// Label: `identitynow` or `scim`.
pub const SERVICE: &str = "service";
/// Label: the HTTP status of an answer, or `no_answer`.
pub const STATUS: &str = "status";
/// Label: what became of a notice, trigger, delivery, poll or aggregation.
pub const RESULT: &str = "result";
/// Label: the kind of trigger.
pub const KIND: &str = "kind";
/// Label of [`SCIM_CONCURRENCY`]: `lookups` or `creates`.
pub const OPERATION: &str = "operation";

/// Bucket bounds of the [`RUN_DURATION`] histogram, in seconds.
pub const RUN_DURATION_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// The HELP lines of `/metrics`.
pub(super) fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        RUNS,
        "Runs finished, by job, trigger, outcome and reason (why a failed run stopped)"
    );
    describe_counter!(GROUPS, "Source groups handled, by job and outcome");
    describe_histogram!(RUN_DURATION, "How long runs took, in seconds");
    describe_gauge!(LAST_SUCCESS, "When the last fully successful run finished");
    describe_counter!(NOTICES, "Email notices, by result");
    describe_counter!(TRIGGERS, "Triggers received, by job, kind and result");
    describe_counter!(WEBHOOK_EVENTS, "Webhook deliveries, by result");
    describe_counter!(POLLS, "Task-status polls, by result");
    describe_counter!(
        AGGREGATIONS,
        "Group aggregations started before scheduled runs"
    );
    describe_gauge!(RUN_IN_PROGRESS, "1 while a run of the job is in progress");
    describe_gauge!(NEXT_SCHEDULED, "When the schedule fires next");
    describe_gauge!(SCIM_TOKEN_EXPIRY, "When the SCIM token expires");
    describe_gauge!(
        SCIM_CONCURRENCY,
        "SCIM requests allowed in flight now, by operation (lookups, creates)"
    );
}
