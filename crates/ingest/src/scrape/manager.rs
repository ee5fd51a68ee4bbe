//! Per-target scrape tasks: start, spread, health, and reconfiguration.

use super::config::ScrapeConfig;
use super::scrape::{build_client, now_ms, ScrapeBatch, TargetScraper};
use super::targets::Target;
use pharos_model::Labels;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;
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

/// Identifies a running target across reconfigurations.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TargetKey {
    pub job: String,
    pub url: String,
    pub labels: Labels,
}

struct Running {
    config: Arc<ScrapeConfig>,
    target: Target,
    health: Arc<Mutex<TargetHealth>>,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<()>,
}

/// Runs one tokio task per target. Must be used inside a tokio runtime.
pub struct ScrapeManager {
    sink: Sink,
    running: HashMap<TargetKey, Running>,
}

impl ScrapeManager {
    pub fn new(sink: Sink) -> Self {
        ScrapeManager {
            sink,
            running: HashMap::new(),
        }
    }

    /// Makes the running set equal `jobs`: targets no longer present are stopped (and
    /// leave staleness markers), new ones start; unchanged targets keep running with
    /// their staleness state. A target whose job config changed is restarted.
    pub async fn apply(&mut self, jobs: Vec<(Arc<ScrapeConfig>, Vec<Target>)>) -> Vec<String> {
        let mut errors = Vec::new();
        let mut wanted: HashMap<TargetKey, (Arc<ScrapeConfig>, Target)> = HashMap::new();
        for (cfg, targets) in jobs {
            for t in targets {
                let key = TargetKey {
                    job: cfg.job_name.clone(),
                    url: t.url.clone(),
                    labels: t.labels.clone(),
                };
                wanted.insert(key, (cfg.clone(), t));
            }
        }
        let stale: Vec<TargetKey> = self
            .running
            .iter()
            .filter(|(k, r)| match wanted.get(*k) {
                Some((cfg, t)) => *r.config != **cfg || r.target != *t,
                None => true,
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            if let Some(r) = self.running.remove(&k) {
                stop_running(r).await;
            }
        }
        let mut clients: HashMap<String, reqwest::Client> = HashMap::new();
        for (key, (cfg, target)) in wanted {
            if self.running.contains_key(&key) {
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
                        continue;
                    }
                },
            };
            let run = self.start(key.clone(), cfg, target, client);
            self.running.insert(key, run);
        }
        errors
    }

    /// Health of every running target.
    pub fn health(&self) -> Vec<(TargetKey, TargetHealth)> {
        self.running
            .iter()
            .map(|(k, r)| {
                let h = r
                    .health
                    .lock()
                    .map(|h| h.clone())
                    .unwrap_or_else(|p| p.into_inner().clone());
                (k.clone(), h)
            })
            .collect()
    }

    /// Stops every target, waiting for their staleness markers to reach the sink.
    pub async fn shutdown(&mut self) {
        for (_, r) in self.running.drain() {
            stop_running(r).await;
        }
    }

    fn start(
        &self,
        key: TargetKey,
        config: Arc<ScrapeConfig>,
        target: Target,
        client: reqwest::Client,
    ) -> Running {
        let health = Arc::new(Mutex::new(TargetHealth {
            health: Health::Unknown,
            last_error: String::new(),
            last_scrape_ms: 0,
            last_scrape_duration: Duration::ZERO,
        }));
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let sink = self.sink.clone();
        let h = health.clone();
        let interval = target.interval;
        let offset = scrape_offset(&key, interval);
        let mut scraper = TargetScraper::new(client, config.clone(), target.clone());
        let handle = tokio::spawn(async move {
            // Spreading first scrapes over the interval by a hash of the target keeps
            // many targets from being scraped in the same instant, as Prometheus does.
            let first = tokio::time::Instant::now() + offset;
            let mut ticker = tokio::time::interval_at(first, interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    _ = ticker.tick() => {}
                }
                let outcome = tokio::select! {
                    _ = &mut stop_rx => break,
                    o = scraper.scrape() => o,
                };
                if let Ok(mut g) = h.lock() {
                    g.health = if outcome.error.is_none() {
                        Health::Up
                    } else {
                        Health::Down
                    };
                    g.last_error = outcome.error.clone().unwrap_or_default();
                    g.last_scrape_ms = outcome.start_ms;
                    g.last_scrape_duration = outcome.duration;
                }
                if let Some(e) = &outcome.error {
                    tracing::debug!(url = %scraper.target().url, error = %e, "scrape failed");
                }
                sink(outcome.batch);
            }
            sink(scraper.stop(now_ms()));
        });
        Running {
            config,
            target,
            health,
            stop: Some(stop_tx),
            handle,
        }
    }
}

async fn stop_running(mut r: Running) {
    if let Some(tx) = r.stop.take() {
        let _ = tx.send(());
    }
    if let Err(e) = r.handle.await {
        tracing::warn!(error = %e, "scrape task ended abnormally");
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
