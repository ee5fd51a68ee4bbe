//! The notification log: for each aggregation group and receiver
//! integration, which alerts were last notified and when. The dedup stage
//! asks it whether a flush needs sending ([`needs_update`]); entries are
//! written through to the [`AlertingStore`] so that a restart does not page
//! again for what was already sent.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::alert::{add_dur, sub_dur};
use crate::clock::{from_ms, to_ms};
use crate::notify::NotifyReason;
use crate::persist::{AlertingStore, NflogRecord, StoreError};

/// Identifies one integration of a receiver, as Alertmanager's
/// `nflogpb.Receiver` does.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReceiverKey {
    pub receiver: String,
    /// Integration name (`webhook`, `slack`, …).
    pub integration: String,
    /// Position among the receiver's integrations of that name.
    pub index: u32,
}

impl std::fmt::Display for ReceiverKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}[{}]", self.receiver, self.integration, self.index)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
    pub timestamp: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Alertmanager's `DedupStage.needsUpdate`: whether the current firing and
/// resolved alert hashes of a group must be sent to an integration whose
/// last notification is `entry`.
pub fn needs_update(
    entry: Option<&Entry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat: Duration,
    now: DateTime<Utc>,
) -> bool {
    update_reason(entry, firing, resolved, send_resolved, repeat, now).should_notify()
}

/// [`needs_update`] with Alertmanager's reason for the decision, which
/// notifications carry as `notification_reason`.
pub fn update_reason(
    entry: Option<&Entry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat: Duration,
    now: DateTime<Utc>,
) -> NotifyReason {
    let Some(entry) = entry else {
        // Never notified: only firing alerts are news.
        return if firing.is_empty() {
            NotifyReason::DoNotNotify
        } else {
            NotifyReason::FirstNotification
        };
    };
    if !firing.is_subset(&entry.firing) {
        // The last notification resolved everything: this one starts over.
        return if entry.firing.is_empty() {
            NotifyReason::FirstNotification
        } else {
            NotifyReason::NewAlertsInGroup
        };
    }
    // All resolved: notify (whatever send_resolved says, so the log forgets
    // the firing alerts) unless the receiver never heard of them.
    if firing.is_empty() {
        return if entry.firing.is_empty() {
            NotifyReason::DoNotNotify
        } else {
            NotifyReason::AllAlertsResolved
        };
    }
    if send_resolved && !resolved.is_subset(&entry.resolved) {
        return NotifyReason::NewResolvedAlerts;
    }
    if entry.timestamp < sub_dur(now, repeat) {
        NotifyReason::RepeatIntervalElapsed
    } else {
        NotifyReason::DoNotNotify
    }
}

type Key = (String, ReceiverKey);

pub struct NotificationLog {
    entries: Mutex<HashMap<Key, Entry>>,
    store: Arc<dyn AlertingStore>,
}

impl NotificationLog {
    pub async fn load(store: Arc<dyn AlertingStore>) -> Result<NotificationLog, StoreError> {
        let entries = store
            .load_nflog()
            .await?
            .into_iter()
            .map(|r| {
                let key = (
                    r.group_key,
                    ReceiverKey {
                        receiver: r.receiver,
                        integration: r.integration,
                        index: r.integration_index,
                    },
                );
                let entry = Entry {
                    firing: r.firing.into_iter().collect(),
                    resolved: r.resolved.into_iter().collect(),
                    timestamp: from_ms(r.timestamp_ms),
                    expires_at: from_ms(r.expires_at_ms),
                };
                (key, entry)
            })
            .collect();
        Ok(NotificationLog {
            entries: Mutex::new(entries),
            store,
        })
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn query(&self, group_key: &str, receiver: &ReceiverKey) -> Option<Entry> {
        self.map()
            .get(&(group_key.to_string(), receiver.clone()))
            .cloned()
    }

    /// Records a notification; the entry expires after `expiry` (the
    /// dispatcher passes twice the repeat interval, as Alertmanager does).
    pub async fn log(
        &self,
        group_key: &str,
        receiver: &ReceiverKey,
        firing: BTreeSet<u64>,
        resolved: BTreeSet<u64>,
        now: DateTime<Utc>,
        expiry: Duration,
    ) -> Result<(), StoreError> {
        let entry = Entry {
            firing,
            resolved,
            timestamp: now,
            expires_at: add_dur(now, expiry),
        };
        let record = NflogRecord {
            group_key: group_key.to_string(),
            receiver: receiver.receiver.clone(),
            integration: receiver.integration.clone(),
            integration_index: receiver.index,
            firing: entry.firing.iter().copied().collect(),
            resolved: entry.resolved.iter().copied().collect(),
            timestamp_ms: to_ms(entry.timestamp),
            expires_at_ms: to_ms(entry.expires_at),
        };
        self.store.save_nflog_entry(&record).await?;
        self.map()
            .insert((group_key.to_string(), receiver.clone()), entry);
        Ok(())
    }

    /// Drops expired entries here and in the store.
    pub async fn gc(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.store.delete_expired_nflog(to_ms(now)).await?;
        let mut m = self.map();
        let before = m.len();
        m.retain(|_, e| e.expires_at > now);
        Ok(before - m.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u64]) -> BTreeSet<u64> {
        v.iter().copied().collect()
    }

    #[test]
    fn needs_update_rules() {
        let t = |s| DateTime::from_timestamp(s, 0).unwrap_or_default();
        let rep = Duration::from_secs(3600);
        let e = Entry {
            firing: set(&[1, 2]),
            resolved: set(&[3]),
            timestamp: t(1000),
            expires_at: t(9000),
        };
        let nu = |entry: Option<&Entry>, f: &[u64], r: &[u64], sr: bool, now: i64| {
            needs_update(entry, &set(f), &set(r), sr, rep, t(now))
        };
        assert!(nu(None, &[1], &[], false, 1000));
        assert!(!nu(None, &[], &[1], true, 1000));
        assert!(nu(Some(&e), &[1, 4], &[], false, 1001));
        assert!(!nu(Some(&e), &[1, 2], &[3], true, 1001));
        assert!(!nu(Some(&e), &[1], &[3], false, 1001));
        assert!(nu(Some(&e), &[1], &[2, 3], true, 1001));
        assert!(nu(Some(&e), &[], &[1, 2], false, 1001));
        let empty = Entry {
            firing: set(&[]),
            ..e.clone()
        };
        assert!(!nu(Some(&empty), &[], &[1], true, 1001));
        assert!(!nu(Some(&e), &[1, 2], &[], false, 4600));
        assert!(nu(Some(&e), &[1, 2], &[], false, 4601));
    }

    #[test]
    fn update_reasons_match_alertmanager() {
        let t = |s| DateTime::from_timestamp(s, 0).unwrap_or_default();
        let rep = Duration::from_secs(3600);
        let e = Entry {
            firing: set(&[1, 2]),
            resolved: set(&[3]),
            timestamp: t(1000),
            expires_at: t(9000),
        };
        let r = |entry: Option<&Entry>, f: &[u64], res: &[u64], now: i64| {
            update_reason(entry, &set(f), &set(res), true, rep, t(now)).as_str()
        };
        assert_eq!(r(None, &[1], &[], 1000), "first notification");
        assert_eq!(r(None, &[], &[1], 1000), "none");
        assert_eq!(r(Some(&e), &[1, 4], &[], 1001), "new alerts added");
        assert_eq!(r(Some(&e), &[1], &[2, 3], 1001), "some alerts resolved");
        assert_eq!(r(Some(&e), &[], &[1, 2], 1001), "all alerts resolved");
        assert_eq!(r(Some(&e), &[1, 2], &[3], 4601), "repeat interval elapsed");
        let cleared = Entry {
            firing: set(&[]),
            ..e.clone()
        };
        assert_eq!(r(Some(&cleared), &[5], &[], 1001), "first notification");
    }
}
