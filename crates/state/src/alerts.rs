//! Current alerts: the alert store's contents, persisted so a restart keeps firing
//! alerts (and their start times) instead of waiting for the next rule evaluation.

use crate::codec::{from_json, to_json};
use crate::db::{in_write_tx, on_pool, Database};
use crate::error::Result;
use crate::Labels;

/// One alert as the alert store holds it. Times are unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecord {
    /// Hex fingerprint of the label set; the key.
    pub fingerprint: String,
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at: i64,
    /// When the alert resolved, or when it will count as resolved if not
    /// refreshed (Alertmanager fills it from `resolve_timeout`); always set.
    pub ends_at: i64,
    pub updated_at: i64,
    pub generator_url: String,
}

impl AlertRecord {
    /// Whether the alert is resolved at `at_ms`.
    pub fn resolved_at(&self, at_ms: i64) -> bool {
        self.ends_at <= at_ms
    }
}

type Row = (String, String, String, i64, i64, i64, String);

const COLUMNS: &str =
    "fingerprint, labels, annotations, starts_at, ends_at, updated_at, generator_url";

const UPSERT: &str = "INSERT INTO alerts (fingerprint, labels, annotations, starts_at, ends_at, \
     updated_at, generator_url) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (fingerprint) DO UPDATE SET labels = excluded.labels, \
     annotations = excluded.annotations, starts_at = excluded.starts_at, \
     ends_at = excluded.ends_at, updated_at = excluded.updated_at, \
     generator_url = excluded.generator_url";

fn decode(row: Row) -> Result<AlertRecord> {
    let (fingerprint, labels, annotations, starts_at, ends_at, updated_at, generator_url) = row;
    Ok(AlertRecord {
        fingerprint,
        labels: from_json("alerts.labels", &labels)?,
        annotations: from_json("alerts.annotations", &annotations)?,
        starts_at,
        ends_at,
        updated_at,
        generator_url,
    })
}

/// Repository for current alerts; get it from [`Database::alerts`].
#[derive(Debug, Clone, Copy)]
pub struct Alerts<'a> {
    pub(crate) db: &'a Database,
}

impl Alerts<'_> {
    /// Stores one alert, replacing the one with the same fingerprint.
    pub async fn upsert(&self, alert: &AlertRecord) -> Result<()> {
        self.upsert_many(std::slice::from_ref(alert)).await
    }

    /// Stores a batch (one POST to `/api/v2/alerts`) in one transaction.
    pub async fn upsert_many(&self, alerts: &[AlertRecord]) -> Result<()> {
        if alerts.is_empty() {
            return Ok(());
        }
        let encoded = alerts
            .iter()
            .map(|a| {
                Ok((
                    a,
                    to_json("alerts.labels", &a.labels)?,
                    to_json("alerts.annotations", &a.annotations)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        in_write_tx!(self.db, tx => {
            for (a, labels, annotations) in &encoded {
                sqlx::query(UPSERT)
                    .bind(&a.fingerprint)
                    .bind(labels)
                    .bind(annotations)
                    .bind(a.starts_at)
                    .bind(a.ends_at)
                    .bind(a.updated_at)
                    .bind(&a.generator_url)
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(())
    }

    /// The alert with `fingerprint`, if stored.
    pub async fn get(&self, fingerprint: &str) -> Result<Option<AlertRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM alerts WHERE fingerprint = $1");
        let row: Option<Row> = on_pool!(self.db, p => sqlx::query_as(&sql)
            .bind(fingerprint)
            .fetch_optional(p)
            .await)?;
        row.map(decode).transpose()
    }

    /// Every stored alert, by fingerprint.
    pub async fn load_all(&self) -> Result<Vec<AlertRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM alerts ORDER BY fingerprint");
        let rows: Vec<Row> = on_pool!(self.db, p => sqlx::query_as(&sql).fetch_all(p).await)?;
        rows.into_iter().map(decode).collect()
    }

    /// Deletes alerts that resolved before `cutoff_ms` (`ends_at < cutoff_ms`);
    /// returns how many. Still-firing alerts have `ends_at` in the future and stay.
    pub async fn delete_resolved_before(&self, cutoff_ms: i64) -> Result<u64> {
        let done = on_pool!(self.db, p => sqlx::query("DELETE FROM alerts WHERE ends_at < $1")
            .bind(cutoff_ms)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done)
    }
}
