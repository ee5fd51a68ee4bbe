//! Per-target scrape tasks: start, spread, health, metadata, and reconfiguration.

use super::config::ScrapeConfig;
use super::metadata::TargetMetadata;
use super::scrape::{build_client, now_ms, ScrapeBatch, ScrapeOutcome, TargetScraper};
use super::targets::Target;
use pharos_model::Labels;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where scraped batches go (storage, in the server).
pub type Sink = Arc<dyn Fn(ScrapeBatch) + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Up,
    Down,
}

/// A target's state as a targets API reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetHealth {
    pub health: Health,
    pub last_error: String,
    /// Milliseconds since the epoch; 0 before the first scrape.
    pub last_scrape_ms: i64,
    pub last_scrape_duration: Duration,
}

impl Default for TargetHealth {
    fn default() -> Self {
        TargetHealth {
            health: Health::Unknown,
            last_error: String::new(),
            last_scrape_ms: 0,
            last_scrape_duration: Duration::ZERO,
        }
    }
}

/// Identifies a running target across reconfigurations.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TargetKey {
    pub job: String,
    pub url: String,
    pub labels: Labels,
}

/// What a target's task shares with readers: its health, the metadata of its recent
/// scrapes, and the error that fails its scrapes while its job is over `target_limit`.
#[derive(Default)]
pub struct TargetShared {
    health: Mutex<TargetHealth>,
    metadata: Arc<Mutex<TargetMetadata>>,
    forced_error: Mutex<Option<String>>,
}

/// A poisoned lock only means a panic elsewhere; the data (plain snapshots) stays usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TargetShared {
    /// Shared state holding `metadata`, as a target that scraped it would have.
    pub fn with_known_metadata(metadata: TargetMetadata) -> Self {
        TargetShared {
            metadata: Arc::new(Mutex::new(metadata)),
            ..TargetShared::default()
        }
    }

    pub fn health(&self) -> TargetHealth {
        lock(&self.health).clone()
    }

    /// Runs `f` on the target's metadata under its lock.
    pub fn with_metadata<R>(&self, f: impl FnOnce(&TargetMetadata) -> R) -> R {
        f(&lock(&self.metadata))
    }

    fn set_forced_error(&self, e: Option<String>) {
        *lock(&self.forced_error) = e;
    }

    fn forced_error(&self) -> Option<String> {
        lock(&self.forced_error).clone()
    }
}

/// The running targets' shared state, readable while the manager is busy reconfiguring.
#[derive(Clone, Default)]
pub struct TargetStatus {
    map: Arc<RwLock<HashMap<TargetKey, Arc<TargetShared>>>>,
}

impl TargetStatus {
    pub fn get(&self, key: &TargetKey) -> Option<Arc<TargetShared>> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    fn insert(&self, key: TargetKey, shared: Arc<TargetShared>) {
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, shared);
    }

    fn remove(&self, key: &TargetKey) {
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// How a target's task ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// The target is gone: its series get staleness markers.
    Final,
    /// A successor with a new configuration takes over: no markers, the scraper's
    /// state is handed back.
    Handover,
}

struct Running {
    config: Arc<ScrapeConfig>,
    target: Target,
    shared: Arc<TargetShared>,
    stop: Option<oneshot::Sender<Stop>>,
    handle: JoinHandle<Option<TargetScraper>>,
}

/// Runs one tokio task per target. Must be used inside a tokio runtime.
pub struct ScrapeManager {
    sink: Sink,
    running: HashMap<TargetKey, Running>,
    status: TargetStatus,
}

impl ScrapeManager {
    pub fn new(sink: Sink) -> Self {
        ScrapeManager {
            sink,
            running: HashMap::new(),
            status: TargetStatus::default(),
        }
    }

    /// Makes the running set equal `jobs`. Targets no longer present are stopped and
    /// leave staleness markers; new ones start; unchanged ones keep running untouched.
    /// A target whose job config (or scrape settings) changed is handed over to a new
    /// task that continues its series and timing, so it neither pauses nor goes stale.
    /// A job with more targets than its `target_limit` fails every target's scrapes
    /// with Prometheus's error until it is back under the limit.
    pub async fn apply(&mut self, jobs: Vec<(Arc<ScrapeConfig>, Vec<Target>)>) -> Vec<String> {
        let mut errors = Vec::new();
        let mut wanted: HashMap<TargetKey, (Arc<ScrapeConfig>, Target, Option<String>)> =
            HashMap::new();
        for (cfg, targets) in jobs {
            let forced =
                (cfg.target_limit > 0 && targets.len() as u64 > cfg.target_limit).then(|| {
                    format!(
                        "target_limit exceeded (number of targets: {}, limit: {})",
                        targets.len(),
                        cfg.target_limit
                    )
                });
            for t in targets {
                let key = TargetKey {
                    job: cfg.job_name.clone(),
                    url: t.url.clone(),
                    labels: t.labels.clone(),
                };
                wanted.insert(key, (cfg.clone(), t, forced.clone()));
            }
        }
        let mut handed_over: HashMap<TargetKey, (TargetScraper, Arc<TargetShared>)> =
            HashMap::new();
        let keys: Vec<TargetKey> = self.running.keys().cloned().collect();
        for k in keys {
            let unchanged = match (wanted.get(&k), self.running.get(&k)) {
                (Some((cfg, t, _)), Some(r)) => *r.config == **cfg && r.target == *t,
                _ => false,
            };
            if unchanged {
                continue;
            }
            let mode = if wanted.contains_key(&k) {
                Stop::Handover
            } else {
                Stop::Final
            };
            let Some(r) = self.running.remove(&k) else {
                continue;
            };
            let shared = r.shared.clone();
            if mode == Stop::Final {
                self.status.remove(&k);
            }
            if let Some(scraper) = stop_running(r, mode).await {
                handed_over.insert(k, (scraper, shared));
            }
        }
        let mut clients: HashMap<String, reqwest::Client> = HashMap::new();
        for (key, (cfg, target, forced)) in wanted {
            if let Some(r) = self.running.get(&key) {
                r.shared.set_forced_error(forced);
                continue;
            }
            let client = match clients.get(&cfg.job_name) {
                Some(c) => c.clone(),
                None => match build_client(&cfg) {
                    Ok(c) => {
                        clients.insert(cfg.job_name.clone(), c.clone());
                        c
                    }
                    Err(e) => {
                        errors.push(format!("job {:?}: {e}", cfg.job_name));
                        // The predecessor is gone; its series must not linger.
                        if let Some((mut old, _)) = handed_over.remove(&key) {
                            (self.sink)(old.stop(now_ms()));
                            self.status.remove(&key);
                        }
                        continue;
                    }
                },
            };
            let (scraper, shared) = match handed_over.remove(&key) {
                Some((old, shared)) => {
                    let metadata = old.metadata();
                    let state = old.into_state();
                    (
                        TargetScraper::with_state(
                            client,
                            cfg.clone(),
                            target.clone(),
                            state,
                            metadata,
                        ),
                        shared,
                    )
                }
                None => {
                    let shared = Arc::new(TargetShared::default());
                    let scraper = TargetScraper::with_state(
                        client,
                        cfg.clone(),
                        target.clone(),
                        Default::default(),
                        shared.metadata.clone(),
                    );
                    (scraper, shared)
                }
            };
            shared.set_forced_error(forced);
            self.status.insert(key.clone(), shared.clone());
            let run = self.start(&key, cfg, target, scraper, shared);
            self.running.insert(key, run);
        }
        errors
    }

    /// Health of every running target.
    pub fn health(&self) -> Vec<(TargetKey, TargetHealth)> {
        self.running
            .iter()
            .map(|(k, r)| (k.clone(), r.shared.health()))
            .collect()
    }

    /// A handle on the running targets' health and metadata that does not need the
    /// manager (which a reconfiguration holds for a while).
    pub fn status(&self) -> TargetStatus {
        self.status.clone()
    }

    /// Stops every target, waiting for their staleness markers to reach the sink.
    pub async fn shutdown(&mut self) {
        for (k, r) in self.running.drain() {
            self.status.remove(&k);
            stop_running(r, Stop::Final).await;
        }
    }

    fn start(
        &self,
        key: &TargetKey,
        config: Arc<ScrapeConfig>,
        target: Target,
        mut scraper: TargetScraper,
        shared: Arc<TargetShared>,
    ) -> Running {
        let (stop_tx, mut stop_rx) = oneshot::channel::<Stop>();
        let sink = self.sink.clone();
        let sh = shared.clone();
        let interval = target.interval;
        let wait = first_scrape_wait(key, interval, SystemTime::now());
        let handle = tokio::spawn(async move {
            let first = tokio::time::Instant::now() + wait;
            let mut ticker = tokio::time::interval_at(first, interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mode = loop {
                tokio::select! {
                    m = &mut stop_rx => break m.unwrap_or(Stop::Final),
                    _ = ticker.tick() => {}
                }
                let outcome = match sh.forced_error() {
                    Some(e) => scraper.fail(e),
                    None => tokio::select! {
                        m = &mut stop_rx => break m.unwrap_or(Stop::Final),
                        o = scraper.scrape() => o,
                    },
                };
                record_health(&sh, &outcome);
                if let Some(e) = &outcome.error {
                    tracing::debug!(url = %scraper.target().url, error = %e, "scrape failed");
                }
                sink(outcome.batch);
            };
            match mode {
                Stop::Handover => Some(scraper),
                Stop::Final => {
                    sink(scraper.stop(now_ms()));
                    None
                }
            }
        });
        Running {
            config,
            target,
            shared,
            stop: Some(stop_tx),
            handle,
        }
    }
}

fn record_health(shared: &TargetShared, outcome: &ScrapeOutcome) {
    let mut g = lock(&shared.health);
    g.health = if outcome.error.is_none() {
        Health::Up
    } else {
        Health::Down
    };
    g.last_error = outcome.error.clone().unwrap_or_default();
    g.last_scrape_ms = outcome.start_ms;
    g.last_scrape_duration = outcome.duration;
}

async fn stop_running(mut r: Running, mode: Stop) -> Option<TargetScraper> {
    if let Some(tx) = r.stop.take() {
        let _ = tx.send(mode);
    }
    match r.handle.await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "scrape task ended abnormally");
            None
        }
    }
}

/// Where in the interval a target's scrapes fall, from a hash of its identity.
pub fn scrape_offset(key: &TargetKey, interval: Duration) -> Duration {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    let ns = u64::try_from(interval.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_nanos(h.finish() % ns)
}

/// How long a starting task waits for its first scrape. The offset is anchored to the
/// wall clock, as in Prometheus, so a task that replaces another with the same interval
/// keeps its rhythm instead of leaving a gap; it also spreads many targets over the
/// interval rather than scraping them all at once.
pub fn first_scrape_wait(key: &TargetKey, interval: Duration, now: SystemTime) -> Duration {
    let ns = interval.as_nanos().clamp(1, u128::from(u64::MAX));
    let offset = scrape_offset(key, interval).as_nanos();
    let since_epoch = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() % ns)
        .unwrap_or(0);
    let wait = (offset + ns - since_epoch) % ns;
    Duration::from_nanos(u64::try_from(wait).unwrap_or(0))
}
