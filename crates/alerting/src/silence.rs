//! Silences with Alertmanager 0.25's rules (`silence/silence.go` and the
//! API v2 handler): validation texts, update-in-place versus expire-and-
//! replace, expiry, states, queries and retention. Pharos adds recurring
//! silences: a silence with a `schedule` (time intervals, as in
//! alertmanager.yml) mutes only while the schedule contains the current
//! time, inside its start/end window.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;
use tokio::sync::Mutex as AsyncMutex;

use crate::alert::add_dur;
use crate::clock::{from_ms, to_ms};
use crate::matcher::{LabelSet, MatchType, Matcher, Matchers};
use crate::persist::{AlertingStore, MatcherRecord, SilenceRecord, StoreError};
use crate::timeinterval::TimeInterval;

/// How long expired silences are kept (Alertmanager's `--data.retention`
/// default).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(120 * 3600);

#[derive(Clone, Debug, PartialEq)]
pub struct Silence {
    /// Empty for a new silence; the store assigns one.
    pub id: String,
    pub matchers: Matchers,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    /// Recurring silences only: when, inside `starts_at..ends_at`, the
    /// silence mutes.
    pub schedule: Option<Vec<TimeInterval>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SilenceState {
    Active,
    Pending,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Active => "active",
            SilenceState::Pending => "pending",
            SilenceState::Expired => "expired",
        }
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SilenceError {
    #[error("silence not found")]
    NotFound,
    /// Checks of the API v2 handler, before the silence store sees it.
    #[error("Failed to create silence: start time must be before end time")]
    StartNotBeforeEnd,
    #[error("Failed to create silence: end time can't be in the past")]
    EndInPast,
    #[error("silence invalid: {0}")]
    Invalid(String),
    #[error("generate uuid: {0}")]
    Id(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Silence {
    /// Alertmanager's state, from the start/end window alone (used by the
    /// update and expire rules).
    pub fn window_state(&self, now: DateTime<Utc>) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now > self.ends_at {
            SilenceState::Expired
        } else {
            SilenceState::Active
        }
    }

    /// Whether a recurring silence's schedule contains `now` (always true
    /// for a plain silence).
    pub fn in_schedule(&self, now: DateTime<Utc>) -> bool {
        match &self.schedule {
            None => true,
            Some(s) => s.iter().any(|ti| ti.contains(now)),
        }
    }

    /// The state shown to users: a recurring silence inside its window but
    /// outside its schedule is pending, as it mutes nothing then.
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        match self.window_state(now) {
            SilenceState::Active if !self.in_schedule(now) => SilenceState::Pending,
            s => s,
        }
    }

    pub fn matches<L: LabelSet + ?Sized>(&self, labels: &L) -> bool {
        self.matchers.matches(labels)
    }

    /// `validateSilence` of Alertmanager, minus the checks Rust's types
    /// make impossible (zero timestamps, missing ID).
    fn validate(&self) -> Result<(), SilenceError> {
        let invalid = |s: String| Err(SilenceError::Invalid(s));
        if self.matchers.is_empty() {
            return invalid("at least one matcher required".into());
        }
        let mut all_match_empty = true;
        for (i, m) in self.matchers.iter().enumerate() {
            if !valid_label_name(m.name()) {
                return invalid(format!(
                    "invalid label matcher {i}: invalid label name {:?}",
                    m.name()
                ));
            }
            all_match_empty &= matches_empty(m);
        }
        if all_match_empty {
            return invalid("at least one matcher must not match the empty string".into());
        }
        if self.ends_at < self.starts_at {
            return invalid("end time must not be before start time".into());
        }
        if let Some(s) = &self.schedule {
            if s.is_empty() {
                return invalid("schedule must list at least one time interval".into());
            }
        }
        Ok(())
    }

    pub fn to_record(&self) -> SilenceRecord {
        SilenceRecord {
            id: self.id.clone(),
            matchers: self
                .matchers
                .iter()
                .map(|m| MatcherRecord {
                    name: m.name().to_string(),
                    op: m.kind().as_str().to_string(),
                    value: m.value().to_string(),
                })
                .collect(),
            starts_at_ms: to_ms(self.starts_at),
            ends_at_ms: to_ms(self.ends_at),
            updated_at_ms: to_ms(self.updated_at),
            created_by: self.created_by.clone(),
            comment: self.comment.clone(),
            schedule: self
                .schedule
                .as_ref()
                .and_then(|s| serde_yaml::to_string(s).ok()),
        }
    }

    pub fn from_record(r: &SilenceRecord) -> Result<Silence, StoreError> {
        let bad = |what: String| StoreError(format!("silence {}: {what}", r.id));
        let mut matchers = Vec::with_capacity(r.matchers.len());
        for m in &r.matchers {
            let kind = match m.op.as_str() {
                "=" => MatchType::Equal,
                "!=" => MatchType::NotEqual,
                "=~" => MatchType::Regexp,
                "!~" => MatchType::NotRegexp,
                op => return Err(bad(format!("unknown matcher type {op:?}"))),
            };
            matchers.push(Matcher::new(kind, &m.name, &m.value).map_err(|e| bad(e.to_string()))?);
        }
        let schedule = match &r.schedule {
            None => None,
            Some(y) => Some(serde_yaml::from_str(y).map_err(|e| bad(e.to_string()))?),
        };
        Ok(Silence {
            id: r.id.clone(),
            matchers: Matchers(matchers),
            starts_at: from_ms(r.starts_at_ms),
            ends_at: from_ms(r.ends_at_ms),
            updated_at: from_ms(r.updated_at_ms),
            created_by: r.created_by.clone(),
            comment: r.comment.clone(),
            schedule,
        })
    }
}

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Alertmanager's `matchesEmpty`: only `=` and `=~` can match "".
fn matches_empty(m: &Matcher) -> bool {
    match m.kind() {
        MatchType::Equal | MatchType::Regexp => m.matches(""),
        _ => false,
    }
}

/// Alertmanager's `canUpdate`: same matchers, and a time change that keeps
/// the silence's history truthful (an active one keeps its start and may
/// not end in the past; a pending one may not start in the past).
fn can_update(prev: &Silence, next: &Silence, now: DateTime<Utc>) -> bool {
    if prev.matchers != next.matchers {
        return false;
    }
    match prev.window_state(now) {
        SilenceState::Active => {
            prev.starts_at.timestamp() == next.starts_at.timestamp() && next.ends_at >= now
        }
        SilenceState::Pending => next.starts_at >= now,
        SilenceState::Expired => false,
    }
}

fn new_id() -> Result<String, SilenceError> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).map_err(|e| SilenceError::Id(e.to_string()))?;
    // UUID version 4, RFC 4122 variant, as Alertmanager's IDs are.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// API v2's silence list filter (`CheckSilenceMatchesFilterLabels`): each
/// filter matcher must equal one of the silence's matchers (same name, type
/// and value); it is not evaluated against values.
pub fn silence_matches_filter(s: &Silence, filter: &[Matcher]) -> bool {
    filter.iter().all(|f| s.matchers.iter().any(|m| m == f))
}

/// API v2's order: active by end, then pending by start, then expired by
/// end, newest first.
pub fn api_order(a: &Silence, b: &Silence, now: DateTime<Utc>) -> Ordering {
    let (sa, sb) = (a.state(now), b.state(now));
    sa.cmp(&sb).then_with(|| match sa {
        SilenceState::Active => a.ends_at.cmp(&b.ends_at),
        SilenceState::Pending => a.starts_at.cmp(&b.starts_at),
        SilenceState::Expired => b.ends_at.cmp(&a.ends_at),
    })
}

/// The silence store: in memory, written through to an [`AlertingStore`].
pub struct Silences {
    silences: RwLock<HashMap<String, Silence>>,
    /// Serializes writers so that a replace (expire + insert) is atomic.
    write: AsyncMutex<()>,
    retention: Duration,
    store: Arc<dyn AlertingStore>,
}

impl Silences {
    /// Loads the persisted silences. Records that no longer decode are
    /// skipped with a warning, so one bad row cannot stop the server.
    pub async fn load(
        store: Arc<dyn AlertingStore>,
        retention: Duration,
    ) -> Result<Silences, StoreError> {
        let mut map = HashMap::new();
        for r in store.load_silences().await? {
            match Silence::from_record(&r) {
                Ok(s) => {
                    map.insert(s.id.clone(), s);
                }
                Err(e) => tracing::warn!(error = %e, "skipping stored silence"),
            }
        }
        Ok(Silences {
            silences: RwLock::new(map),
            write: AsyncMutex::new(()),
            retention,
            store,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Silence>> {
        self.silences.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_map(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Silence>> {
        self.silences.write().unwrap_or_else(|e| e.into_inner())
    }

    /// `POST /api/v2/silences`: the handler's time checks, then [`set`].
    ///
    /// [`set`]: Silences::set
    pub async fn post(&self, s: Silence, now: DateTime<Utc>) -> Result<String, SilenceError> {
        if s.starts_at >= s.ends_at {
            return Err(SilenceError::StartNotBeforeEnd);
        }
        if s.ends_at < now {
            return Err(SilenceError::EndInPast);
        }
        self.set(s, now).await
    }

    /// Creates a silence (empty ID) or updates one: in place when
    /// Alertmanager's `canUpdate` allows it, otherwise the old silence is
    /// expired and the new one gets a fresh ID. Returns the ID.
    pub async fn set(&self, mut s: Silence, now: DateTime<Utc>) -> Result<String, SilenceError> {
        let _w = self.write.lock().await;
        let prev = if s.id.is_empty() {
            None
        } else {
            Some(self.get(&s.id).ok_or(SilenceError::NotFound)?)
        };
        if let Some(prev) = &prev {
            if can_update(prev, &s, now) {
                s.updated_at = now;
                s.validate()?;
                self.persist(s.clone()).await?;
                return Ok(s.id);
            }
        }
        s.updated_at = now;
        if s.starts_at < now {
            s.starts_at = now;
        }
        s.validate()?;
        if let Some(prev) = prev {
            if prev.window_state(now) != SilenceState::Expired {
                self.persist(expired(prev, now)).await?;
            }
        }
        s.id = new_id()?;
        self.persist(s.clone()).await?;
        Ok(s.id)
    }

    /// Expires a silence now; expiring an expired one is a no-op.
    pub async fn expire(&self, id: &str, now: DateTime<Utc>) -> Result<(), SilenceError> {
        let _w = self.write.lock().await;
        let s = self.get(id).ok_or(SilenceError::NotFound)?;
        if s.window_state(now) == SilenceState::Expired {
            return Ok(());
        }
        self.persist(expired(s, now)).await
    }

    async fn persist(&self, s: Silence) -> Result<(), SilenceError> {
        self.store.save_silence(&s.to_record()).await?;
        self.write_map().insert(s.id.clone(), s);
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<Silence> {
        self.read().get(id).cloned()
    }

    /// Silences whose matchers pass the API filter, in API order.
    pub fn query(&self, filter: &[Matcher], now: DateTime<Utc>) -> Vec<Silence> {
        let mut out: Vec<Silence> = self
            .read()
            .values()
            .filter(|s| silence_matches_filter(s, filter))
            .cloned()
            .collect();
        out.sort_by(|a, b| api_order(a, b, now).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// Silences in one of `states` whose matchers match `labels`.
    pub fn matching<L: LabelSet + ?Sized>(
        &self,
        labels: &L,
        states: &[SilenceState],
        now: DateTime<Utc>,
    ) -> Vec<Silence> {
        let mut out: Vec<Silence> = self
            .read()
            .values()
            .filter(|s| states.contains(&s.state(now)) && s.matches(labels))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// IDs of the silences muting `labels` at `now`, sorted.
    pub fn mutes<L: LabelSet + ?Sized>(&self, labels: &L, now: DateTime<Utc>) -> Vec<String> {
        self.matching(labels, &[SilenceState::Active], now)
            .into_iter()
            .map(|s| s.id)
            .collect()
    }

    /// Drops silences that ended more than the retention ago; returns how
    /// many.
    pub async fn gc(&self, now: DateTime<Utc>) -> Result<usize, SilenceError> {
        let _w = self.write.lock().await;
        let keep = self.retention;
        let old: Vec<String> = self
            .read()
            .values()
            .filter(|s| add_dur(s.ends_at, keep) <= now)
            .map(|s| s.id.clone())
            .collect();
        for id in &old {
            self.store.delete_silence(id).await?;
            self.write_map().remove(id);
        }
        Ok(old.len())
    }
}

/// The silence as `expire` leaves it: ended now, and a pending one also
/// started now so that it moves straight to expired.
fn expired(mut s: Silence, now: DateTime<Utc>) -> Silence {
    if s.window_state(now) == SilenceState::Pending {
        s.starts_at = now;
    }
    s.ends_at = now;
    s.updated_at = now;
    s
}

#[cfg(test)]
#[path = "silence_tests.rs"]
mod tests;
