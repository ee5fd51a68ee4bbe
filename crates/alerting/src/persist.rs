//! The persistence seam: what the alerting stage keeps across restarts
//! (silences, the notification log) and the alert history it appends to.
//! Record types are plain (strings, unix milliseconds, label maps) so that a
//! SQL implementation can map them to columns without depending on this
//! crate's internal types. [`MemoryStore`] keeps everything in memory; it
//! serves tests and `--no-persistence` style setups.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use thiserror::Error;

/// A storage backend failure, carried as text so backends stay free to use
/// their own error types.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("alerting store: {0}")]
pub struct StoreError(pub String);

/// One silence matcher; `op` is `=`, `!=`, `=~` or `!~`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatcherRecord {
    pub name: String,
    pub op: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SilenceRecord {
    pub id: String,
    pub matchers: Vec<MatcherRecord>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub updated_at_ms: i64,
    pub created_by: String,
    pub comment: String,
    /// A recurring silence's schedule: YAML of a list of time intervals, as
    /// written under `time_intervals:` in alertmanager.yml.
    pub schedule: Option<String>,
}

/// The last notification of one aggregation group to one receiver
/// integration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NflogRecord {
    pub group_key: String,
    pub receiver: String,
    pub integration: String,
    pub integration_index: u32,
    /// Hashes of the firing alerts that were notified.
    pub firing: Vec<u64>,
    /// Hashes of the resolved alerts that were notified.
    pub resolved: Vec<u64>,
    pub timestamp_ms: i64,
    /// When the entry may be dropped (twice the repeat interval later).
    pub expires_at_ms: i64,
}

/// What happened to an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HistoryKind {
    Firing,
    Resolved,
    Silenced,
    Inhibited,
    /// No longer silenced nor inhibited.
    Unsuppressed,
    NotificationSent,
    NotificationFailed,
}

impl HistoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Firing => "firing",
            HistoryKind::Resolved => "resolved",
            HistoryKind::Silenced => "silenced",
            HistoryKind::Inhibited => "inhibited",
            HistoryKind::Unsuppressed => "unsilenced",
            HistoryKind::NotificationSent => "notification_sent",
            HistoryKind::NotificationFailed => "notification_failed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEvent {
    pub at_ms: i64,
    pub kind: HistoryKind,
    /// The alert's fingerprint, 16 hex digits.
    pub fingerprint: String,
    pub labels: BTreeMap<String, String>,
    /// Silence IDs (silenced) or inhibiting fingerprints (inhibited).
    pub by: Vec<String>,
    /// For notifications: receiver and integration (`webhook[0]`).
    pub receiver: Option<String>,
    pub integration: Option<String>,
    /// For failed notifications: the error.
    pub error: Option<String>,
}

#[async_trait]
pub trait AlertingStore: Send + Sync {
    async fn load_silences(&self) -> Result<Vec<SilenceRecord>, StoreError>;
    /// Inserts or replaces the silence with the record's ID.
    async fn save_silence(&self, s: &SilenceRecord) -> Result<(), StoreError>;
    async fn delete_silence(&self, id: &str) -> Result<(), StoreError>;
    async fn load_nflog(&self) -> Result<Vec<NflogRecord>, StoreError>;
    /// Inserts or replaces the entry for (group key, receiver, integration,
    /// index).
    async fn save_nflog_entry(&self, e: &NflogRecord) -> Result<(), StoreError>;
    /// Drops entries with `expires_at_ms <= now_ms`; returns how many.
    async fn delete_expired_nflog(&self, now_ms: i64) -> Result<usize, StoreError>;
    async fn append_history_event(&self, e: &HistoryEvent) -> Result<(), StoreError>;
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    silences: Mutex<BTreeMap<String, SilenceRecord>>,
    nflog: Mutex<Vec<NflogRecord>>,
    history: Mutex<Vec<HistoryEvent>>,
}

fn same_nflog_slot(a: &NflogRecord, b: &NflogRecord) -> bool {
    a.group_key == b.group_key
        && a.receiver == b.receiver
        && a.integration == b.integration
        && a.integration_index == b.integration_index
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Every history event so far, oldest first.
    pub fn history(&self) -> Vec<HistoryEvent> {
        lock(&self.history).clone()
    }
}

/// Locks a mutex, recovering the data if a holder panicked: every update
/// below is a single insert or remove, so the data stays consistent.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl AlertingStore for MemoryStore {
    async fn load_silences(&self) -> Result<Vec<SilenceRecord>, StoreError> {
        Ok(lock(&self.silences).values().cloned().collect())
    }
    async fn save_silence(&self, s: &SilenceRecord) -> Result<(), StoreError> {
        lock(&self.silences).insert(s.id.clone(), s.clone());
        Ok(())
    }
    async fn delete_silence(&self, id: &str) -> Result<(), StoreError> {
        lock(&self.silences).remove(id);
        Ok(())
    }
    async fn load_nflog(&self) -> Result<Vec<NflogRecord>, StoreError> {
        Ok(lock(&self.nflog).clone())
    }
    async fn save_nflog_entry(&self, e: &NflogRecord) -> Result<(), StoreError> {
        let mut log = lock(&self.nflog);
        match log.iter_mut().find(|x| same_nflog_slot(x, e)) {
            Some(slot) => *slot = e.clone(),
            None => log.push(e.clone()),
        }
        Ok(())
    }
    async fn delete_expired_nflog(&self, now_ms: i64) -> Result<usize, StoreError> {
        let mut log = lock(&self.nflog);
        let before = log.len();
        log.retain(|e| e.expires_at_ms > now_ms);
        Ok(before - log.len())
    }
    async fn append_history_event(&self, e: &HistoryEvent) -> Result<(), StoreError> {
        lock(&self.history).push(e.clone());
        Ok(())
    }
}
