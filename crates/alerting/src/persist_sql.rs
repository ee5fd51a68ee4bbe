//! [`AlertingStore`] over the control-plane database (`pharos-state`): silences,
//! the notification log and alert history in SQLite or PostgreSQL, so a
//! restarted server keeps its silences and does not page again for what it
//! already sent.
//!
//! The records of [`crate::persist`] map one to one onto the state crate's
//! records; only matcher operators (`=~` versus `isRegex`/`isEqual`) and the
//! history event's free-text columns need translating.

use async_trait::async_trait;
use pharos_state::{Database, EventKind, Matcher, NflogEntry, StateError};

use crate::persist::{
    AlertingStore, HistoryEvent, HistoryKind, MatcherRecord, NflogRecord, SilenceRecord, StoreError,
};

/// The SQL-backed store. Cloning shares the database's pool.
#[derive(Clone, Debug)]
pub struct SqlStore {
    db: Database,
}

impl SqlStore {
    pub fn new(db: Database) -> SqlStore {
        SqlStore { db }
    }

    /// The database, for readers outside the dispatcher (the history API).
    pub fn database(&self) -> &Database {
        &self.db
    }
}

fn store_err(e: StateError) -> StoreError {
    StoreError(e.to_string())
}

fn matcher_to_state(m: &MatcherRecord) -> Result<Matcher, StoreError> {
    let (is_regex, is_equal) = match m.op.as_str() {
        "=" => (false, true),
        "!=" => (false, false),
        "=~" => (true, true),
        "!~" => (true, false),
        op => return Err(StoreError(format!("unknown matcher operator {op:?}"))),
    };
    Ok(Matcher {
        name: m.name.clone(),
        value: m.value.clone(),
        is_regex,
        is_equal,
    })
}

fn matcher_from_state(m: &Matcher) -> MatcherRecord {
    let op = match (m.is_regex, m.is_equal) {
        (false, true) => "=",
        (false, false) => "!=",
        (true, true) => "=~",
        (true, false) => "!~",
    };
    MatcherRecord {
        name: m.name.clone(),
        op: op.to_string(),
        value: m.value.clone(),
    }
}

fn silence_to_state(s: &SilenceRecord) -> Result<pharos_state::Silence, StoreError> {
    Ok(pharos_state::Silence {
        id: s.id.clone(),
        matchers: s
            .matchers
            .iter()
            .map(matcher_to_state)
            .collect::<Result<_, _>>()?,
        starts_at: s.starts_at_ms,
        ends_at: s.ends_at_ms,
        updated_at: s.updated_at_ms,
        created_by: s.created_by.clone(),
        comment: s.comment.clone(),
        schedule: s.schedule.clone(),
    })
}

fn silence_from_state(s: pharos_state::Silence) -> SilenceRecord {
    SilenceRecord {
        matchers: s.matchers.iter().map(matcher_from_state).collect(),
        id: s.id,
        starts_at_ms: s.starts_at,
        ends_at_ms: s.ends_at,
        updated_at_ms: s.updated_at,
        created_by: s.created_by,
        comment: s.comment,
        schedule: s.schedule,
    }
}

fn nflog_to_state(e: &NflogRecord) -> NflogEntry {
    NflogEntry {
        group_key: e.group_key.clone(),
        receiver: e.receiver.clone(),
        integration: e.integration.clone(),
        integration_index: e.integration_index,
        firing_alerts: e.firing.clone(),
        resolved_alerts: e.resolved.clone(),
        timestamp: e.timestamp_ms,
        expires_at: e.expires_at_ms,
    }
}

fn nflog_from_state(e: NflogEntry) -> NflogRecord {
    NflogRecord {
        group_key: e.group_key,
        receiver: e.receiver,
        integration: e.integration,
        integration_index: e.integration_index,
        firing: e.firing_alerts,
        resolved: e.resolved_alerts,
        timestamp_ms: e.timestamp,
        expires_at_ms: e.expires_at,
    }
}

/// The stored kind of a dispatcher event.
pub fn kind_to_state(k: HistoryKind) -> EventKind {
    match k {
        HistoryKind::Firing => EventKind::Firing,
        HistoryKind::Resolved => EventKind::Resolved,
        HistoryKind::Silenced => EventKind::Silenced,
        HistoryKind::Inhibited => EventKind::Inhibited,
        HistoryKind::Unsuppressed => EventKind::Unsuppressed,
        HistoryKind::NotificationSent => EventKind::Notified,
        HistoryKind::NotificationFailed => EventKind::NotifyFailed,
    }
}

/// The one free-text column holds what the event has: a failure's error, or
/// the silences / inhibiting alerts behind a suppression (comma-separated;
/// neither IDs nor fingerprints contain commas).
fn history_to_state(e: &HistoryEvent) -> pharos_state::HistoryEvent {
    let detail = match (&e.error, e.by.is_empty()) {
        (Some(err), _) => Some(err.clone()),
        (None, false) => Some(e.by.join(",")),
        (None, true) => None,
    };
    pharos_state::HistoryEvent {
        fingerprint: e.fingerprint.clone(),
        labels: e.labels.clone(),
        kind: kind_to_state(e.kind),
        receiver: e.receiver.clone(),
        integration: e.integration.clone(),
        detail,
        at: e.at_ms,
    }
}

#[async_trait]
impl AlertingStore for SqlStore {
    async fn load_silences(&self) -> Result<Vec<SilenceRecord>, StoreError> {
        let rows = self.db.silences().list().await.map_err(store_err)?;
        Ok(rows.into_iter().map(silence_from_state).collect())
    }

    async fn save_silence(&self, s: &SilenceRecord) -> Result<(), StoreError> {
        let row = silence_to_state(s)?;
        self.db.silences().upsert(&row).await.map_err(store_err)
    }

    async fn delete_silence(&self, id: &str) -> Result<(), StoreError> {
        self.db
            .silences()
            .delete(id)
            .await
            .map(|_| ())
            .map_err(store_err)
    }

    async fn load_nflog(&self) -> Result<Vec<NflogRecord>, StoreError> {
        // Every entry: the dispatcher's log applies expiry itself, against its
        // own clock.
        let rows = self
            .db
            .nflog()
            .load_active(i64::MIN)
            .await
            .map_err(store_err)?;
        Ok(rows.into_iter().map(nflog_from_state).collect())
    }

    async fn save_nflog_entry(&self, e: &NflogRecord) -> Result<(), StoreError> {
        self.db
            .nflog()
            .upsert(&nflog_to_state(e))
            .await
            .map_err(store_err)
    }

    async fn delete_expired_nflog(&self, now_ms: i64) -> Result<usize, StoreError> {
        let n = self
            .db
            .nflog()
            .purge_expired(now_ms)
            .await
            .map_err(store_err)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn append_history_event(&self, e: &HistoryEvent) -> Result<(), StoreError> {
        self.db
            .history()
            .append(&history_to_state(e))
            .await
            .map(|_| ())
            .map_err(store_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    async fn store() -> SqlStore {
        SqlStore::new(Database::connect("sqlite::memory:").await.unwrap())
    }

    #[tokio::test]
    async fn silences_round_trip() {
        let s = store().await;
        let rec = SilenceRecord {
            id: "a".into(),
            matchers: ["=", "!=", "=~", "!~"]
                .iter()
                .map(|op| MatcherRecord {
                    name: "job".into(),
                    op: op.to_string(),
                    value: "x.*".into(),
                })
                .collect(),
            starts_at_ms: 1000,
            ends_at_ms: 2000,
            updated_at_ms: 1500,
            created_by: "me".into(),
            comment: "c".into(),
            schedule: Some("- weekdays: ['monday']\n".into()),
        };
        s.save_silence(&rec).await.unwrap();
        assert_eq!(s.load_silences().await.unwrap(), vec![rec.clone()]);
        s.delete_silence("a").await.unwrap();
        assert!(s.load_silences().await.unwrap().is_empty());
        let bad = SilenceRecord {
            matchers: vec![MatcherRecord {
                name: "a".into(),
                op: "~".into(),
                value: "b".into(),
            }],
            ..rec
        };
        assert!(s.save_silence(&bad).await.is_err());
    }

    #[tokio::test]
    async fn nflog_upserts_and_expires() {
        let s = store().await;
        let mut e = NflogRecord {
            group_key: "{}:{alertname=\"A\"}".into(),
            receiver: "r".into(),
            integration: "webhook".into(),
            integration_index: 0,
            firing: vec![u64::MAX, 1],
            resolved: vec![],
            timestamp_ms: 10,
            expires_at_ms: 100,
        };
        s.save_nflog_entry(&e).await.unwrap();
        e.resolved = vec![1];
        e.firing = vec![u64::MAX];
        s.save_nflog_entry(&e).await.unwrap();
        assert_eq!(s.load_nflog().await.unwrap(), vec![e.clone()]);
        assert_eq!(s.delete_expired_nflog(99).await.unwrap(), 0);
        assert_eq!(s.delete_expired_nflog(100).await.unwrap(), 1);
        assert!(s.load_nflog().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn history_keeps_kind_and_detail() {
        let s = store().await;
        let labels: BTreeMap<String, String> = [("alertname".to_string(), "A".to_string())].into();
        let ev = HistoryEvent {
            at_ms: 5,
            kind: HistoryKind::Silenced,
            fingerprint: "0123456789abcdef".into(),
            labels: labels.clone(),
            by: vec!["s1".into(), "s2".into()],
            receiver: None,
            integration: None,
            error: None,
        };
        s.append_history_event(&ev).await.unwrap();
        let failed = HistoryEvent {
            at_ms: 6,
            kind: HistoryKind::NotificationFailed,
            by: vec![],
            receiver: Some("r".into()),
            integration: Some("webhook[0]".into()),
            error: Some("boom".into()),
            ..ev.clone()
        };
        s.append_history_event(&failed).await.unwrap();
        let got = s
            .database()
            .history()
            .query(&pharos_state::HistoryQuery::default())
            .await
            .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].event.kind, EventKind::Silenced);
        assert_eq!(got[0].event.detail.as_deref(), Some("s1,s2"));
        assert_eq!(got[1].event.kind, EventKind::NotifyFailed);
        assert_eq!(got[1].event.detail.as_deref(), Some("boom"));
        assert_eq!(got[1].event.integration.as_deref(), Some("webhook[0]"));
    }
}
