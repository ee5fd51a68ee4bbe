//! Runs rule groups on their schedules: one thread per group, evaluations aligned to
//! the group's slot (`interval` multiples shifted by a per-group offset), missed
//! iterations counted and skipped, `for` state restored after the second evaluation at
//! start-up, and state carried over when rule files are reloaded.

use crate::api::{alerts_view, rules_view, AlertsView, RulesFilter, RulesView};
use crate::group::{load_sources, Group, GroupEnv, LoadOptions, Notifier, RuleSource, Settings};
use crate::rulefmt::{ParseOptions, RuleFileError};
use crate::storage::{Appendable, QueryFunc};
use crate::template::Templates;
use pharos_model::Queryable;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What every group evaluates against.
pub struct ManagerDeps {
    pub query: Arc<dyn QueryFunc>,
    pub appender: Arc<dyn Appendable>,
    pub queryable: Arc<dyn Queryable>,
    pub templates: Arc<dyn Templates>,
    pub notifier: Option<Arc<dyn Notifier>>,
    pub settings: Settings,
}

impl ManagerDeps {
    fn env(&self) -> GroupEnv<'_> {
        GroupEnv {
            query: self.query.as_ref(),
            appender: self.appender.as_ref(),
            queryable: self.queryable.as_ref(),
            templates: self.templates.as_ref(),
            notifier: self.notifier.as_deref(),
            settings: &self.settings,
        }
    }
}

/// A stop request a sleeping group thread notices at once.
#[derive(Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    cond: Condvar,
}

impl StopSignal {
    fn stop(&self) {
        *lock(&self.stopped) = true;
        self.cond.notify_all();
    }

    /// Sleeps until `until_ms` (wall clock); false when stopped first.
    fn sleep_until(&self, until_ms: i64) -> bool {
        let mut stopped = lock(&self.stopped);
        loop {
            if *stopped {
                return false;
            }
            let now = now_ms();
            if now >= until_ms {
                return true;
            }
            let wait = Duration::from_millis((until_ms - now) as u64);
            stopped = self
                .cond
                .wait_timeout(stopped, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}

struct Running {
    key: String,
    group: Arc<Mutex<Group>>,
    stop: Arc<StopSignal>,
    thread: Option<JoinHandle<()>>,
}

/// Loads rule files and runs their groups until stopped.
pub struct RuleManager {
    deps: Arc<ManagerDeps>,
    running: Mutex<Vec<Running>>,
    /// Set once the first set of groups was started: groups added by later reloads
    /// have nothing to restore.
    started: Mutex<bool>,
    shutdown: Arc<StopSignal>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl RuleManager {
    pub fn new(deps: ManagerDeps) -> RuleManager {
        RuleManager {
            deps: Arc::new(deps),
            running: Mutex::new(Vec::new()),
            started: Mutex::new(false),
            shutdown: Arc::new(StopSignal::default()),
        }
    }

    /// Loads `files` and swaps the running groups for them; on any error the running
    /// groups stay as they are. Groups with the same file and name keep their state.
    pub fn update(
        &self,
        files: &[PathBuf],
        default_interval_ms: i64,
        parse: ParseOptions<'_>,
    ) -> Result<(), Vec<RuleFileError>> {
        let sources: Vec<RuleSource> = files.iter().cloned().map(RuleSource::File).collect();
        self.update_sources(&sources, default_interval_ms, parse)
    }

    /// [`RuleManager::update`] for rule files and generated rule texts.
    pub fn update_sources(
        &self,
        sources: &[RuleSource],
        default_interval_ms: i64,
        parse: ParseOptions<'_>,
    ) -> Result<(), Vec<RuleFileError>> {
        let mut started = lock(&self.started);
        let opts = LoadOptions {
            default_interval_ms,
            parse,
            restore: !*started,
        };
        let new_groups = load_sources(sources, &opts)?;
        let mut running = lock(&self.running);
        let mut old: Vec<Running> = std::mem::take(&mut *running);
        for mut g in new_groups {
            let key = g.key();
            if let Some(i) = old.iter().position(|r| r.key == key) {
                let Running {
                    group: prev,
                    stop,
                    thread,
                    ..
                } = old.remove(i);
                stop.stop();
                if let Some(t) = thread {
                    let _ = t.join();
                }
                g.copy_state(&lock(&prev));
            }
            running.push(self.start(g));
        }
        // Groups no longer configured: their series go stale after two intervals, which
        // gives a renamed group time to write its own.
        for r in old {
            r.stop.stop();
            if let Some(t) = r.thread {
                let _ = t.join();
            }
            let deps = self.deps.clone();
            let shutdown = self.shutdown.clone();
            let group = r.group;
            std::thread::spawn(move || {
                let interval = lock(&group).interval_ms;
                let at = now_ms() + 2 * interval;
                shutdown.sleep_until(at);
                lock(&group).mark_all_stale(&deps.env(), now_ms());
            });
        }
        *started = true;
        Ok(())
    }

    fn start(&self, group: Group) -> Running {
        let key = group.key();
        let group = Arc::new(Mutex::new(group));
        let stop = Arc::new(StopSignal::default());
        let thread = {
            let group = group.clone();
            let stop = stop.clone();
            let deps = self.deps.clone();
            std::thread::Builder::new()
                .name(format!("rules:{key}"))
                .spawn(move || run_group(&group, &stop, &deps))
                .ok()
        };
        Running {
            key,
            group,
            stop,
            thread,
        }
    }

    /// Stops every group and waits for running evaluations to finish.
    pub fn stop(&self) {
        self.shutdown.stop();
        let running = std::mem::take(&mut *lock(&self.running));
        for r in &running {
            r.stop.stop();
        }
        for r in running {
            if let Some(t) = r.thread {
                let _ = t.join();
            }
        }
    }

    /// A snapshot of every group with its rules and alerts.
    pub fn groups(&self) -> Vec<Group> {
        lock(&self.running)
            .iter()
            .map(|r| lock(&r.group).clone())
            .collect()
    }

    /// The `/api/v1/rules` data.
    pub fn rules_view(&self, filter: &RulesFilter) -> RulesView {
        rules_view(&self.groups(), filter)
    }

    /// The `/api/v1/alerts` data.
    pub fn alerts_view(&self) -> AlertsView {
        alerts_view(&self.groups())
    }
}

impl Drop for RuleManager {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A group's life: wait for its first slot, evaluate every interval, restore `for`
/// state after the second evaluation when asked to.
fn run_group(group: &Mutex<Group>, stop: &StopSignal, deps: &ManagerDeps) {
    let (interval, first) = {
        let g = lock(group);
        (g.interval_ms, g.eval_timestamp(now_ms()) + g.interval_ms)
    };
    let mut eval_ts = first;
    if !stop.sleep_until(eval_ts) {
        return;
    }
    let env = deps.env();
    {
        let mut g = lock(group);
        g.counters.iterations_scheduled += 1;
        g.eval(&env, eval_ts);
    }
    let mut restore_pending = lock(group).should_restore;
    loop {
        if !stop.sleep_until(eval_ts + interval) {
            return;
        }
        // Slots that passed while the previous evaluation ran are skipped, not caught up.
        let missed = ((now_ms() - eval_ts) / interval - 1).max(0);
        eval_ts += (missed + 1) * interval;
        let mut g = lock(group);
        g.counters.iterations_missed += missed as u64;
        g.counters.iterations_scheduled += missed as u64 + 1;
        g.eval(&env, eval_ts);
        if restore_pending {
            // After a second evaluation recording rules have fresh values, so the
            // alerts restored now are the ones that really are active.
            g.restore_for_state(&env, now_ms());
            restore_pending = false;
        }
    }
}
