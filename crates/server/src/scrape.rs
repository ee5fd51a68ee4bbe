//! Scraping inside `pharos serve`: turns the config's `scrape_configs` (plus the
//! self-scrape job) into targets, runs them with a [`ScrapeManager`] whose batches go to
//! the storage, re-reads file_sd files, keeps what `/api/v1/targets` and the metadata
//! APIs report, and applies reloaded configurations.

use crate::config::{Config, SELF_SCRAPE_JOB};
use crate::http::Store;
use pharos_ingest::scrape::{
    build_targets, read_file_sd, static_groups, ScrapeBatch, ScrapeConfig, ScrapeManager, Sink,
    TargetGroup, TargetHealth, TargetKey, TargetSet, TargetShared, TargetStatus,
};
use pharos_model::Labels;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// One job's discovered groups and the targets built from them.
struct Job {
    config: Arc<ScrapeConfig>,
    statics: Vec<TargetGroup>,
    /// Groups last read for each `file_sd_configs` entry, in order.
    file_sd: Vec<Vec<TargetGroup>>,
    /// When each `file_sd_configs` entry is next due for a re-read.
    file_sd_due: Vec<Instant>,
    targets: TargetSet,
}

impl Job {
    fn new(config: Arc<ScrapeConfig>) -> Job {
        let statics = static_groups(&config);
        let now = Instant::now();
        let file_sd: Vec<Vec<TargetGroup>> = config
            .file_sd_configs
            .iter()
            .map(|f| read_groups(&config.job_name, f))
            .collect();
        let file_sd_due = config
            .file_sd_configs
            .iter()
            .map(|f| now + f.refresh_interval.0)
            .collect();
        let mut job = Job {
            config,
            statics,
            file_sd,
            file_sd_due,
            targets: TargetSet::default(),
        };
        job.rebuild();
        job
    }

    fn rebuild(&mut self) {
        let mut groups = self.statics.clone();
        for g in &self.file_sd {
            groups.extend(g.iter().cloned());
        }
        self.targets = build_targets(&self.config, &groups);
    }

    /// Re-reads the file_sd entries that are due; true when any groups changed.
    fn refresh_due(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for (i, f) in self.config.file_sd_configs.iter().enumerate() {
            if self.file_sd_due[i] > now {
                continue;
            }
            self.file_sd_due[i] = now + f.refresh_interval.0;
            let groups = read_groups(&self.config.job_name, f);
            if groups != self.file_sd[i] {
                self.file_sd[i] = groups;
                changed = true;
            }
        }
        if changed {
            self.rebuild();
        }
        changed
    }

    fn next_due(&self) -> Option<Instant> {
        self.file_sd_due.iter().min().copied()
    }
}

/// A file that cannot be read is logged and contributes no targets, as in Prometheus;
/// the server keeps running with the other files' targets.
fn read_groups(job: &str, f: &pharos_ingest::scrape::config::FileSdConfig) -> Vec<TargetGroup> {
    let (groups, errors) = read_file_sd(f);
    for e in errors {
        tracing::warn!(job, error = %e, "file_sd");
    }
    groups
}

/// A target as `/api/v1/targets` reports it.
pub struct ActiveTargetView {
    pub config: Arc<ScrapeConfig>,
    pub target: pharos_ingest::scrape::Target,
    pub health: Option<TargetHealth>,
}

/// What the targets and metadata APIs read; the HTTP layer holds it once scraping runs.
pub struct ScrapeView {
    jobs: Mutex<Vec<(Arc<ScrapeConfig>, TargetSet)>>,
    status: TargetStatus,
}

fn target_key(cfg: &ScrapeConfig, t: &pharos_ingest::scrape::Target) -> TargetKey {
    TargetKey {
        job: cfg.job_name.clone(),
        url: t.url.clone(),
        labels: t.labels.clone(),
    }
}

impl ScrapeView {
    /// The running targets' labels and shared state (health, metadata), in job order.
    pub fn running_targets(&self) -> Vec<(Labels, Arc<TargetShared>)> {
        let jobs = lock(&self.jobs);
        let mut out = Vec::new();
        for (cfg, set) in jobs.iter() {
            for t in &set.active {
                if let Some(shared) = self.status.get(&target_key(cfg, t)) {
                    out.push((t.labels.clone(), shared));
                }
            }
        }
        out
    }

    pub fn active(&self) -> Vec<ActiveTargetView> {
        let jobs = lock(&self.jobs);
        let mut out = Vec::new();
        for (cfg, set) in jobs.iter() {
            for t in &set.active {
                out.push(ActiveTargetView {
                    config: cfg.clone(),
                    target: t.clone(),
                    health: self.status.get(&target_key(cfg, t)).map(|s| s.health()),
                });
            }
        }
        out
    }

    /// Dropped targets with their job, as many as each job keeps.
    pub fn dropped(&self) -> Vec<(String, pharos_ingest::scrape::DroppedTarget)> {
        lock(&self.jobs)
            .iter()
            .flat_map(|(cfg, set)| {
                set.dropped
                    .iter()
                    .map(|d| (cfg.job_name.clone(), d.clone()))
            })
            .collect()
    }

    /// Every job's number of dropped targets, including those not kept.
    pub fn dropped_counts(&self) -> Vec<(String, usize)> {
        lock(&self.jobs)
            .iter()
            .map(|(cfg, set)| (cfg.job_name.clone(), set.dropped_count))
            .collect()
    }
}

/// A poisoned lock only means a panic elsewhere; the data (plain snapshots) stays usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The running scrape side of the server.
pub struct Scraping {
    manager: Arc<tokio::sync::Mutex<ScrapeManager>>,
    jobs: Arc<tokio::sync::Mutex<Vec<Job>>>,
    view: Arc<ScrapeView>,
    refresher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Set by shutdown, so a reload racing it cannot start targets again.
    closed: std::sync::atomic::AtomicBool,
    /// Wakes the file_sd refresher after a reload, whose jobs may be due sooner.
    rescheduled: Arc<tokio::sync::Notify>,
    pub append_failures: Arc<AtomicU64>,
}

/// The self-scrape job: this server's `/metrics` every 15 s, Prometheus's default.
fn self_job(addr: SocketAddr) -> Result<ScrapeConfig, String> {
    let mut target = addr;
    // A wildcard listen address is not something to connect to; loopback of the same
    // family reaches the same socket.
    if target.ip().is_unspecified() {
        target.set_ip(match target {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let yaml = format!(
        "job_name: {SELF_SCRAPE_JOB}\nscrape_interval: 15s\nstatic_configs:\n  - targets: ['{target}']\n"
    );
    serde_yaml::from_str(&yaml).map_err(|e| e.to_string())
}

/// The jobs a config asks for, the self-scrape job first when enabled.
pub fn configured_jobs(config: &Config, addr: SocketAddr) -> Vec<Arc<ScrapeConfig>> {
    let mut jobs = Vec::new();
    if config.self_scrape {
        match self_job(addr) {
            Ok(j) => jobs.push(Arc::new(j)),
            Err(e) => tracing::warn!(error = %e, "cannot set up the self-scrape job"),
        }
    }
    jobs.extend(config.scrape_configs.iter().cloned().map(Arc::new));
    jobs
}

/// Appends each batch to storage. The write batch only borrows the scrape batch's
/// label sets (which the target's series cache shares), so no label is copied.
fn storage_sink(store: Arc<dyn Store>, failures: Arc<AtomicU64>) -> Sink {
    Arc::new(move |batch: ScrapeBatch| {
        let write_batch = batch.as_write_batch();
        let append = || store.append(&write_batch);
        // Appends write the WAL and may fsync; on the multi-threaded runtime this moves
        // the other tasks off this worker instead of stalling them.
        let result = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(append)
            }
            _ => append(),
        };
        match result {
            Ok(outcome) => {
                let refused: u64 = outcome.rejected.iter().sum();
                if refused > 0 {
                    let total = failures.fetch_add(refused, Ordering::Relaxed) + refused;
                    tracing::warn!(
                        refused,
                        total,
                        first = outcome.first_rejection.as_deref().unwrap_or(""),
                        "storage refused scraped samples"
                    );
                }
            }
            Err(e) => {
                let n = write_batch.series.len() as u64;
                let total = failures.fetch_add(n.max(1), Ordering::Relaxed) + n.max(1);
                tracing::warn!(error = %e, total, "storing a scrape failed");
            }
        }
    })
}

/// Applies the jobs' targets; returns the jobs that could not be set up, with why.
async fn apply_jobs(
    manager: &tokio::sync::Mutex<ScrapeManager>,
    jobs: &[Job],
    view: &ScrapeView,
) -> Vec<String> {
    let wanted = jobs
        .iter()
        .map(|j| (j.config.clone(), j.targets.active.clone()))
        .collect();
    *lock(&view.jobs) = jobs
        .iter()
        .map(|j| (j.config.clone(), j.targets.clone()))
        .collect();
    let errors = manager.lock().await.apply(wanted).await;
    for e in &errors {
        tracing::warn!(error = %e, "scrape configuration");
    }
    errors
}

impl Scraping {
    /// Starts scraping `configs` into `store`. Must run inside the tokio runtime.
    pub async fn start(configs: Vec<Arc<ScrapeConfig>>, store: Arc<dyn Store>) -> Scraping {
        let failures = Arc::new(AtomicU64::new(0));
        let manager = Arc::new(tokio::sync::Mutex::new(ScrapeManager::new(storage_sink(
            store,
            failures.clone(),
        ))));
        let jobs: Vec<Job> = configs.into_iter().map(Job::new).collect();
        let status = manager.lock().await.status();
        let view = Arc::new(ScrapeView {
            jobs: Mutex::new(Vec::new()),
            status,
        });
        apply_jobs(&manager, &jobs, &view).await;
        let jobs = Arc::new(tokio::sync::Mutex::new(jobs));
        let rescheduled = Arc::new(tokio::sync::Notify::new());
        let refresher = tokio::spawn(refresh_loop(
            manager.clone(),
            jobs.clone(),
            view.clone(),
            rescheduled.clone(),
        ));
        Scraping {
            manager,
            jobs,
            view,
            refresher: Mutex::new(Some(refresher)),
            closed: std::sync::atomic::AtomicBool::new(false),
            rescheduled,
            append_failures: failures,
        }
    }

    pub fn view(&self) -> Arc<ScrapeView> {
        self.view.clone()
    }

    /// Switches to `configs`. A job whose config is unchanged keeps its discovered
    /// targets (and file_sd schedule); the others are set up anew. Targets present
    /// before and after keep scraping without a gap, removed ones go stale. Returns the
    /// jobs that could not be set up.
    pub async fn reload(&self, configs: Vec<Arc<ScrapeConfig>>) -> Vec<String> {
        let mut jobs = self.jobs.lock().await;
        if self.closed.load(Ordering::Acquire) {
            return vec!["scraping is shutting down".to_owned()];
        }
        let mut old: HashMap<String, Job> = jobs
            .drain(..)
            .map(|j| (j.config.job_name.clone(), j))
            .collect();
        for cfg in configs {
            let job = match old.remove(&cfg.job_name) {
                Some(j) if j.config == cfg => j,
                _ => Job::new(cfg),
            };
            jobs.push(job);
        }
        let errors = apply_jobs(&self.manager, &jobs, &self.view).await;
        self.rescheduled.notify_one();
        errors
    }

    /// Stops every target; their staleness markers are stored before this returns.
    pub async fn shutdown(&self) {
        let mut jobs = self.jobs.lock().await;
        // Under the jobs lock, so a reload either finished before or sees the flag.
        self.closed.store(true, Ordering::Release);
        let refresher = lock(&self.refresher).take();
        if let Some(r) = refresher {
            r.abort();
            let _ = r.await;
        }
        jobs.clear();
        drop(jobs);
        self.manager.lock().await.shutdown().await;
    }
}

/// Longest sleep between checks when no file_sd is configured, so the loop stays cheap.
const IDLE_CHECK: Duration = Duration::from_secs(3600);

async fn refresh_loop(
    manager: Arc<tokio::sync::Mutex<ScrapeManager>>,
    jobs: Arc<tokio::sync::Mutex<Vec<Job>>>,
    view: Arc<ScrapeView>,
    rescheduled: Arc<tokio::sync::Notify>,
) {
    loop {
        let next = {
            let jobs = jobs.lock().await;
            jobs.iter()
                .filter_map(Job::next_due)
                .min()
                .unwrap_or_else(|| Instant::now() + IDLE_CHECK)
        };
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            // The jobs changed: work out the next due time again.
            _ = rescheduled.notified() => continue,
        }
        let mut jobs = jobs.lock().await;
        let now = Instant::now();
        let mut changed = false;
        for j in jobs.iter_mut() {
            changed |= j.refresh_due(now);
        }
        if changed {
            apply_jobs(&manager, &jobs, &view).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_job_targets_loopback_for_wildcard_listen() {
        let j = self_job("0.0.0.0:9090".parse().unwrap()).unwrap();
        assert_eq!(j.job_name, "pharos");
        assert_eq!(j.scrape_interval.0, Duration::from_secs(15));
        assert_eq!(j.static_configs[0].targets, vec!["127.0.0.1:9090"]);
        let j = self_job("[::]:9090".parse().unwrap()).unwrap();
        assert_eq!(j.static_configs[0].targets, vec!["[::1]:9090"]);
    }

    #[test]
    fn self_job_is_optional() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut c = Config::default();
        assert_eq!(configured_jobs(&c, addr).len(), 1);
        c.self_scrape = false;
        assert!(configured_jobs(&c, addr).is_empty());
    }
}
