//! The notification log: for each (group, receiver, integration) the alerts last
//! notified as firing and resolved, so a restarted server does not page again for
//! what it already sent (Alertmanager's nflog, in SQL instead of a snapshot file).

use crate::codec::{from_json, to_json, to_u32};
use crate::db::{in_write_tx, on_pool, Database};
use crate::error::Result;

/// One notification log entry. Alert hashes are the alerts' fingerprints as the
/// dispatcher computes them; times are unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NflogEntry {
    pub group_key: String,
    pub receiver: String,
    /// Integration name, e.g. `webhook`, `slack`.
    pub integration: String,
    /// Position of the integration among the receiver's integrations of that name.
    pub integration_index: u32,
    pub firing_alerts: Vec<u64>,
    pub resolved_alerts: Vec<u64>,
    /// When the notification was sent.
    pub timestamp: i64,
    /// After this the entry is ignored and may be purged.
    pub expires_at: i64,
}

type Row = (String, String, String, i64, String, String, i64, i64);

const UPSERT: &str = "INSERT INTO nflog (group_key, receiver, integration, integration_index, \
     firing_alerts, resolved_alerts, sent_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (group_key, receiver, integration, integration_index) DO UPDATE SET \
     firing_alerts = excluded.firing_alerts, resolved_alerts = excluded.resolved_alerts, \
     sent_at = excluded.sent_at, expires_at = excluded.expires_at";

fn decode(row: Row) -> Result<NflogEntry> {
    let (group_key, receiver, integration, index, firing, resolved, timestamp, expires_at) = row;
    Ok(NflogEntry {
        group_key,
        receiver,
        integration,
        integration_index: to_u32("nflog.integration_index", index)?,
        firing_alerts: from_json("nflog.firing_alerts", &firing)?,
        resolved_alerts: from_json("nflog.resolved_alerts", &resolved)?,
        timestamp,
        expires_at,
    })
}

/// Encoded JSON columns of one entry, prepared before a transaction opens so a
/// bad value never holds the write lock.
struct Encoded<'e> {
    entry: &'e NflogEntry,
    firing: String,
    resolved: String,
}

fn encode(entry: &NflogEntry) -> Result<Encoded<'_>> {
    Ok(Encoded {
        entry,
        firing: to_json("nflog.firing_alerts", &entry.firing_alerts)?,
        resolved: to_json("nflog.resolved_alerts", &entry.resolved_alerts)?,
    })
}

/// Repository for the notification log; get it from [`Database::nflog`].
#[derive(Debug, Clone, Copy)]
pub struct Nflog<'a> {
    pub(crate) db: &'a Database,
}

impl Nflog<'_> {
    /// Records one entry, replacing the previous one for the same key.
    pub async fn upsert(&self, entry: &NflogEntry) -> Result<()> {
        self.upsert_many(std::slice::from_ref(entry)).await
    }

    /// Records several entries in one transaction: all or none are stored.
    pub async fn upsert_many(&self, entries: &[NflogEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let encoded = entries.iter().map(encode).collect::<Result<Vec<_>>>()?;
        in_write_tx!(self.db, tx => {
            for e in &encoded {
                sqlx::query(UPSERT)
                    .bind(&e.entry.group_key)
                    .bind(&e.entry.receiver)
                    .bind(&e.entry.integration)
                    .bind(i64::from(e.entry.integration_index))
                    .bind(&e.firing)
                    .bind(&e.resolved)
                    .bind(e.entry.timestamp)
                    .bind(e.entry.expires_at)
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(())
    }

    /// The entry for one key, expired or not.
    pub async fn get(
        &self,
        group_key: &str,
        receiver: &str,
        integration: &str,
        integration_index: u32,
    ) -> Result<Option<NflogEntry>> {
        let sql = "SELECT group_key, receiver, integration, integration_index, firing_alerts, \
             resolved_alerts, sent_at, expires_at FROM nflog \
             WHERE group_key = $1 AND receiver = $2 AND integration = $3 AND integration_index = $4";
        let row: Option<Row> = on_pool!(self.db, p => sqlx::query_as(sql)
            .bind(group_key)
            .bind(receiver)
            .bind(integration)
            .bind(i64::from(integration_index))
            .fetch_optional(p)
            .await)?;
        row.map(decode).transpose()
    }

    /// Every entry still valid at `now_ms` (`expires_at > now_ms`), in key order;
    /// what the dispatcher loads at start.
    pub async fn load_active(&self, now_ms: i64) -> Result<Vec<NflogEntry>> {
        let sql = "SELECT group_key, receiver, integration, integration_index, firing_alerts, \
             resolved_alerts, sent_at, expires_at FROM nflog WHERE expires_at > $1 \
             ORDER BY group_key, receiver, integration, integration_index";
        let rows: Vec<Row> = on_pool!(self.db, p => sqlx::query_as(sql)
            .bind(now_ms)
            .fetch_all(p)
            .await)?;
        rows.into_iter().map(decode).collect()
    }

    /// Deletes entries expired at `now_ms` (`expires_at <= now_ms`); returns how many.
    pub async fn purge_expired(&self, now_ms: i64) -> Result<u64> {
        let done = on_pool!(self.db, p => sqlx::query("DELETE FROM nflog WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done)
    }
}
