//! Helpers for the dispatcher timeline tests: a recording notifier, a
//! dispatcher on a paused clock, and alert builders.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pharos_alerting::alert::{Alert, PostableAlert};
use pharos_alerting::dispatch::{Dispatcher, DispatcherConfig, DispatcherOptions};
use pharos_alerting::notify::{Integration, Notifier, NotifyContext, NotifyError};
use pharos_alerting::persist::AlertingStore;
use pharos_alerting::Config;
use tokio::time::Instant;

/// The wall time every test starts at: Monday 4 March 2024, 10:00 UTC.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-03-04T10:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// Seconds since the recorder was made.
    pub at: f64,
    pub receiver: String,
    pub group_key: String,
    /// `alertname/instance` and whether resolved, in the order sent.
    pub alerts: Vec<(String, bool)>,
    /// The alerts' annotations, in the same order.
    pub annotations: Vec<BTreeMap<String, String>>,
    pub reason: String,
    pub route_labels: BTreeMap<String, String>,
}

/// A notifier that records every attempt and answers from a script
/// (success once the script is empty).
pub struct Recorder {
    start: Instant,
    calls: Mutex<Vec<Call>>,
    script: Mutex<VecDeque<Result<(), NotifyError>>>,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            start: Instant::now(),
            calls: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
        })
    }

    pub fn script(&self, answers: Vec<Result<(), NotifyError>>) {
        self.script.lock().unwrap().extend(answers);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Just the times of the attempts.
    pub fn times(&self) -> Vec<f64> {
        self.calls().iter().map(|c| c.at).collect()
    }
}

pub fn short(a: &Alert) -> String {
    let n = a.labels.get("alertname").cloned().unwrap_or_default();
    match a.labels.get("instance") {
        Some(i) => format!("{n}/{i}"),
        None => n,
    }
}

#[async_trait]
impl Notifier for Recorder {
    async fn notify(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        self.calls.lock().unwrap().push(Call {
            at: (Instant::now() - self.start).as_secs_f64(),
            receiver: ctx.receiver.receiver.clone(),
            group_key: ctx.group_key.clone(),
            alerts: alerts
                .iter()
                .map(|a| (short(a), a.ends_at.is_some()))
                .collect(),
            annotations: alerts.iter().map(|a| a.annotations.clone()).collect(),
            reason: ctx.notification_reason.clone(),
            route_labels: ctx.route_labels.clone(),
        });
        let next = self.script.lock().unwrap().pop_front();
        next.unwrap_or(Ok(()))
    }
}

/// One webhook integration per listed receiver.
pub fn receivers(list: &[(&str, bool, &Arc<Recorder>)]) -> HashMap<String, Vec<Integration>> {
    list.iter()
        .map(|(name, send_resolved, rec)| {
            (
                name.to_string(),
                vec![Integration {
                    name: "webhook".into(),
                    index: 0,
                    send_resolved: *send_resolved,
                    notifier: (*rec).clone(),
                }],
            )
        })
        .collect()
}

pub async fn dispatcher(
    yaml: &str,
    recv: HashMap<String, Vec<Integration>>,
    store: Arc<dyn AlertingStore>,
    start: DateTime<Utc>,
) -> Dispatcher {
    let cfg = Config::load(yaml).expect("test config is valid");
    let opts = DispatcherOptions {
        start_time: Some(start),
        ..DispatcherOptions::default()
    };
    Dispatcher::start(
        DispatcherConfig::from_config(&cfg, recv).expect("compiles"),
        store,
        opts,
    )
    .await
    .expect("dispatcher starts")
}

pub fn labels(p: &[(&str, &str)]) -> BTreeMap<String, String> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A firing alert lasting a day from `now` (explicit end, so no timeout).
pub fn firing(d: &Dispatcher, p: &[(&str, &str)]) -> PostableAlert {
    let now = d.now();
    PostableAlert {
        labels: labels(p),
        starts_at: Some(now),
        ends_at: Some(now + chrono::Duration::days(1)),
        ..Default::default()
    }
}

/// The alert resolved now.
pub fn resolved(d: &Dispatcher, p: &[(&str, &str)], started: DateTime<Utc>) -> PostableAlert {
    PostableAlert {
        labels: labels(p),
        starts_at: Some(started),
        ends_at: Some(d.now()),
        ..Default::default()
    }
}

/// Lets the paused clock run for `secs` seconds, then lets every task woken
/// at that instant (a flush due exactly then) finish before the test looks.
pub async fn wait(secs: f64) {
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}
