//! `groupsync serve`: one process with an HTTP server, the triggers and the sync.
//!
//! - `coordinator`: one run at a time; triggers during a run coalesce into one follow-up.
//!   Across processes (a `groupsync run` or a CronJob on the same store), each run takes
//!   the store's run lease; when another process holds it, the daemon's run waits up to
//!   [`LEASE_WAIT`] and is then recorded as `skipped` (the other run does the same work;
//!   the next trigger runs again).
//! - `schedule`: the cron trigger, in the configured time zone.
//! - `webhook` (+ `payload`, `auth`): SailPoint's "Account Aggregation Completed" event.
//! - `poll`: task-status polling, with what was handled kept in the store.
//! - `aggregate`: a group aggregation before scheduled runs, when configured.
//! - `runner`: the sync pipeline as the coordinator runs it, with its progress.
//! - `http`: the endpoints; `server`: their connections, bounded; `health`: readiness;
//!   `source`: the AD source's id.
//!
//! The caller binds the listener and owns the shutdown token ([`serve`]), so tests run
//! the daemon on `127.0.0.1:0` and stop it when they like.

pub mod aggregate;
pub mod auth;
pub mod coordinator;
pub mod health;
pub mod http;
pub mod payload;
pub mod poll;
pub mod runner;
pub mod schedule;
pub mod server;
pub mod source;
pub mod webhook;

use crate::config::{Settings, WebhookAuth};
use crate::identitynow;
use crate::store::{Store, StoreError};
use crate::sync::lease::LeaseWait;
use crate::sync::{SetupError, Syncer};
use crate::telemetry::{self, daemon_log};
use coordinator::Coordinator;
use health::Health;
use metrics_exporter_prometheus::PrometheusHandle;
use poll::{OwnAggregations, Poller};
use runner::{RunProgress, SyncRunner};
use source::AdSource;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How many finished runs `/runs/{id}` can still show.
const RECENT_RUNS: usize = 100;
/// How often the metrics recorder drops old histogram samples.
const METRICS_UPKEEP: Duration = Duration::from_secs(10);

/// Why the daemon could not start or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot set up the clients: {0}")]
    Setup(#[from] SetupError),
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("the HTTP server failed: {0}")]
    Http(std::io::Error),
}

/// Serves until `shutdown` is cancelled; returns within `server.shutdown_grace_secs` of it.
pub async fn serve(
    listener: TcpListener,
    settings: Arc<Settings>,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    Daemon::new(settings)?.run(listener, shutdown).await
}

/// The daemon's parts, built and ready; [`Daemon::run`] sets them going.
pub struct Daemon {
    /// The first job's settings: the shared sections (`[server]`, `[store]`, `[webhook]`)
    /// are the same in every job's.
    settings: Arc<Settings>,
    /// One per job (`[[jobs]]`; one, `default`, without): each has its own coordinator,
    /// so runs of two jobs may overlap while each job runs one at a time.
    jobs: Vec<Job>,
    store: Store,
    /// The first job's readiness (`/readyz`).
    health: Arc<Health>,
    metrics: PrometheusHandle,
}

/// One job's parts in the daemon.
struct Job {
    settings: Arc<Settings>,
    /// The IdentityNow client (shared with the runs: one token, one rate limit).
    client: identitynow::Client,
    coordinator: Coordinator,
    runner: SyncRunner,
    source: Arc<AdSource>,
    own: Arc<OwnAggregations>,
    /// Shared with the runner; the daemon sends the outbox's leftovers at start.
    syncer: Arc<Syncer>,
}

/// How long a daemon's run waits for the run lease another process holds.
pub const LEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

impl Daemon {
    /// Builds the clients and opens the store (creating it if needed).
    pub fn new(settings: Arc<Settings>) -> Result<Daemon, DaemonError> {
        let store = Store::open(&settings.store.path)?;
        let mut syncers: Vec<Arc<Syncer>> = vec![];
        let mut jobs = vec![];
        let mut health = None;
        for job in settings.all_jobs() {
            let job = Arc::new(job.clone());
            let syncer = Syncer::new_among(job.clone(), store.clone(), &syncers)?
                .with_lease_wait(LeaseWait::Upto(LEASE_WAIT));
            let syncer = Arc::new(syncer);
            syncers.push(syncer.clone());
            let source = Arc::new(AdSource::new(
                job.identitynow.source.clone(),
                syncer.source().clone(),
            ));
            let job_health = Arc::new(
                Health::new(
                    store.clone(),
                    syncer.source().clone(),
                    syncer.target().clone(),
                )
                .with_token_expiry(job.scim.token_expiry),
            );
            health.get_or_insert_with(|| job_health.clone());
            let own = Arc::new(OwnAggregations::default());
            let runner = SyncRunner::new(
                job.clone(),
                syncer.clone(),
                source.clone(),
                own.clone(),
                job_health,
            );
            jobs.push(Job {
                client: syncer.source().clone(),
                coordinator: Coordinator::for_job(RECENT_RUNS, &job.job),
                settings: job,
                runner,
                source,
                own,
                syncer,
            });
        }
        Ok(Daemon {
            settings,
            health: health.expect("at least one job"),
            jobs,
            store,
            metrics: telemetry::prometheus(),
        })
    }

    /// The first job's coordinator (the only one without `[[jobs]]`): subscribe to
    /// finished runs, watch the state, trigger runs.
    pub fn coordinator(&self) -> &Coordinator {
        &self.jobs[0].coordinator
    }

    /// The coordinator of the job called `name`.
    pub fn coordinator_of(&self, name: &str) -> Option<&Coordinator> {
        self.jobs
            .iter()
            .find(|j| j.settings.job == name)
            .map(|j| &j.coordinator)
    }

    /// Progress of the first job's current run.
    pub fn progress(&self) -> watch::Receiver<RunProgress> {
        self.jobs[0].runner.progress()
    }

    /// A poller of the first job over this daemon's store and coordinator (the poll loop
    /// uses one per job too).
    pub fn poller(&self) -> Poller {
        self.jobs[0].poller(&self.store)
    }

    /// Serves on `listener`, runs the triggers, until `shutdown`.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), DaemonError> {
        let listen = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "?".into());
        daemon_log::started(&listen, &self.describe_triggers());
        if matches!(self.settings.webhook.auth, Some(WebhookAuth::None)) {
            daemon_log::unauthenticated_webhook();
        }
        if self.settings.server.deprecated_protect_dashboard {
            daemon_log::deprecated_key("server.protect_dashboard", "server.public_dashboard");
        }
        let grace = self.settings.server.shutdown_grace;
        let stop = shutdown.child_token();
        let loops = self.start_loops(&stop);
        let drivers: Vec<JoinHandle<()>> = self
            .jobs
            .iter()
            .map(|job| {
                let (coordinator, token) = (job.coordinator.clone(), stop.clone());
                let runner = Arc::new(job.runner.clone());
                tokio::spawn(async move { coordinator.drive(runner, token, grace).await })
            })
            .collect();
        self.flush_outbox_in_background();
        let router = http::router(self.app()).merge(crate::web::routes(self.web_state()));
        let limits = server::Limits::of(&self.settings.server);
        let mut server = tokio::spawn(server::serve(listener, router, limits, stop.clone()));
        let early = tokio::select! {
            result = &mut server => Some(result),
            _ = stop.cancelled() => None,
        };
        // From here on everything ends within the grace period.
        stop.cancel();
        daemon_log::stopping(
            grace.as_secs(),
            self.jobs
                .iter()
                .any(|j| j.coordinator.snapshot().running.is_some()),
        );
        let deadline = Instant::now() + grace;
        let result = finish(server, early, deadline).await;
        for driver in drivers {
            let _ = driver.await;
        }
        for task in loops {
            within(task, deadline).await;
        }
        daemon_log::stopped();
        result
    }

    /// Notices queued by an earlier process (SMTP was down, or it stopped) go out now,
    /// not only at the next run.
    fn flush_outbox_in_background(&self) {
        let syncer = self.jobs[0].syncer.clone();
        tokio::spawn(async move {
            if let Err(e) = syncer.flush_outbox().await {
                daemon_log::outbox_not_flushed(&e.to_string());
            }
        });
    }

    /// The history pages and `/executions`, fed with the schedule and the last readiness.
    fn web_state(&self) -> crate::web::WebState {
        let schedules: Vec<_> = self
            .jobs
            .iter()
            .filter_map(|j| j.settings.trigger.schedule.clone())
            .collect();
        let health = self.health.clone();
        let server = &self.settings.server;
        crate::web::WebState::new(self.store.clone())
            .with_inputs(move || crate::web::DashboardInputs {
                next_run: schedules
                    .iter()
                    .filter_map(|s| schedule::next_fire(s, chrono::Utc::now()))
                    .min(),
                ready: health.last_readiness().map(|r| crate::web::Readiness {
                    ready: r.ready,
                    detail: r
                        .reason
                        .unwrap_or_else(|| "all checks passed at the last probe".into()),
                }),
            })
            .protected_unless(server.public_dashboard, server.admin_token.clone())
    }

    fn app(&self) -> Arc<http::App> {
        Arc::new(http::App {
            settings: self.settings.clone(),
            jobs: self
                .jobs
                .iter()
                .map(|j| http::AppJob {
                    name: j.settings.job.clone(),
                    coordinator: j.coordinator.clone(),
                    source: j.source.clone(),
                    progress: j.runner.progress(),
                })
                .collect(),
            health: self.health.clone(),
            metrics: self.metrics.clone(),
            store: self.store.clone(),
        })
    }

    fn describe_triggers(&self) -> String {
        let mut on = vec!["manual"];
        if self
            .jobs
            .iter()
            .any(|j| j.settings.trigger.schedule.is_some())
        {
            on.push("schedule");
        }
        if self.settings.webhook.auth.is_some() {
            on.push("webhook");
        }
        if self.jobs.iter().any(|j| j.settings.poll.interval.is_some()) {
            on.push("poll");
        }
        on.join(",")
    }

    /// The schedule, the poll loop, the readiness probe, the metrics upkeep and an early
    /// source lookup.
    fn start_loops(&self, stop: &CancellationToken) -> Vec<JoinHandle<()>> {
        let mut loops = vec![];
        for job in &self.jobs {
            loops.extend(job.start_loops(&self.store, stop));
        }
        let (health, token) = (self.health.clone(), stop.clone());
        let every = self.settings.server.readiness_interval;
        loops.push(tokio::spawn(async move {
            health.probe_every(every, token).await
        }));
        let (token, handle) = (stop.clone(), self.metrics.clone());
        loops.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(METRICS_UPKEEP);
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = ticks.tick() => handle.run_upkeep(),
                }
            }
        }));
        loops
    }
}

impl Job {
    fn poller(&self, store: &Store) -> Poller {
        Poller::new(
            self.client.clone(),
            self.source.clone(),
            store.clone(),
            self.coordinator.clone(),
            self.own.clone(),
        )
    }

    /// The job's schedule, its poll loop and an early lookup of its source.
    fn start_loops(&self, store: &Store, stop: &CancellationToken) -> Vec<JoinHandle<()>> {
        let mut loops = vec![];
        if let Some(schedule) = self.settings.trigger.schedule.clone() {
            let clock = Arc::new(schedule::SystemClock);
            loops.push(tokio::spawn(schedule::run(
                schedule,
                self.coordinator.clone(),
                clock,
                stop.clone(),
            )));
        }
        if let Some(interval) = self.settings.poll.interval {
            loops.push(tokio::spawn(self.poller(store).run(interval, stop.clone())));
        }
        let source = self.source.clone();
        let token = stop.clone();
        loops.push(tokio::spawn(async move {
            // Warms the cache for the first webhook; failures are retried when needed.
            tokio::select! {
                _ = token.cancelled() => {}
                _ = source.id() => {}
            }
        }));
        loops
    }
}

/// The HTTP server's result, waiting for it until `deadline` if it is still closing.
async fn finish(
    mut server: JoinHandle<std::io::Result<()>>,
    early: Option<Result<std::io::Result<()>, tokio::task::JoinError>>,
    deadline: Instant,
) -> Result<(), DaemonError> {
    let joined = match early {
        Some(joined) => joined,
        None => match tokio::time::timeout_at(deadline, &mut server).await {
            Ok(joined) => joined,
            Err(_) => {
                // Connections still open at the deadline are cut.
                server.abort();
                return Ok(());
            }
        },
    };
    match joined {
        Ok(result) => result.map_err(DaemonError::Http),
        Err(e) => Err(DaemonError::Http(std::io::Error::other(e.to_string()))),
    }
}

/// Waits for a loop to end until `deadline`, then stops it.
async fn within(mut task: JoinHandle<()>, deadline: Instant) {
    if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
        task.abort();
        let _ = task.await;
    }
}
