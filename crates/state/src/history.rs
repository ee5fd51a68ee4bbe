//! Alert history: an append-only log of what happened to each alert (fired,
//! resolved, silenced, notified, ...), for the UI's timeline and incident reports.
//!
//! Queries narrow by time range (and fingerprint) in SQL, using the `(at, id)` and
//! `(fingerprint, at, id)` indexes, then apply label matchers and kinds in Rust:
//! labels are JSON text, and matching them in SQL would need a different JSON and
//! regex dialect per backend. Rows are read in pages keyed by `(at, id)` until the
//! limit is met, so a selective matcher never loads the whole range at once.

use std::fmt;
use std::str::FromStr;

use crate::codec::{from_json, to_json};
use crate::db::{in_write_tx, on_pool, Database};
use crate::error::{Result, StateError};
use crate::matcher::{all_match, compile_all, Matcher};
use crate::Labels;

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Firing,
    Resolved,
    Silenced,
    Inhibited,
    /// No longer silenced nor inhibited.
    Unsuppressed,
    Notified,
    NotifyFailed,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        Self::Firing,
        Self::Resolved,
        Self::Silenced,
        Self::Inhibited,
        Self::Unsuppressed,
        Self::Notified,
        Self::NotifyFailed,
    ];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
            Self::Silenced => "silenced",
            Self::Inhibited => "inhibited",
            Self::Unsuppressed => "unsuppressed",
            Self::Notified => "notified",
            Self::NotifyFailed => "notify_failed",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = StateError;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| StateError::InvalidValue {
                column: "alert_history.kind",
                value: s.to_string(),
            })
    }
}

/// One event to append. `at` is unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEvent {
    pub fingerprint: String,
    pub labels: Labels,
    pub kind: EventKind,
    /// The receiver, for notification events.
    pub receiver: Option<String>,
    /// The receiver's integration, e.g. `webhook[0]`, for notification events.
    pub integration: Option<String>,
    /// Free text: silence id, inhibiting alert, error message, ...
    pub detail: Option<String>,
    pub at: i64,
}

/// An event as stored, with the id the database gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: i64,
    pub event: HistoryEvent,
}

/// Time order of query results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first.
    #[default]
    Ascending,
    /// Newest first, for "the last N events".
    Descending,
}

/// What to select from the history. The default selects everything, oldest first.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// All must match the event's labels.
    pub matchers: Vec<Matcher>,
    /// Only this alert.
    pub fingerprint: Option<String>,
    /// Only these kinds; empty means all.
    pub kinds: Vec<EventKind>,
    /// Inclusive lower bound on `at`.
    pub from: Option<i64>,
    /// Exclusive upper bound on `at`.
    pub to: Option<i64>,
    /// At most this many events.
    pub limit: Option<usize>,
    pub order: Order,
}

type Row = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Rows fetched per round trip when filters apply in Rust.
const PAGE: usize = 500;

fn decode(row: Row) -> Result<StoredEvent> {
    let (id, at, fingerprint, labels, kind, receiver, integration, detail) = row;
    Ok(StoredEvent {
        id,
        event: HistoryEvent {
            fingerprint,
            labels: from_json("alert_history.labels", &labels)?,
            kind: kind.parse()?,
            receiver,
            integration,
            detail,
            at,
        },
    })
}

/// SQL for one page: range, optional fingerprint, then strictly after the cursor
/// `($4, $5)` in the requested direction.
fn page_sql(order: Order, by_fingerprint: bool) -> String {
    let (after, dir) = match order {
        Order::Ascending => ("at > $4 OR (at = $4 AND id > $5)", "ASC"),
        Order::Descending => ("at < $4 OR (at = $4 AND id < $5)", "DESC"),
    };
    let fingerprint = if by_fingerprint {
        "fingerprint = $3"
    } else {
        // Keeps the parameter numbering the same in both variants.
        "$3 = $3"
    };
    format!(
        "SELECT id, at, fingerprint, labels, kind, receiver, integration, detail \
         FROM alert_history \
         WHERE at >= $1 AND at < $2 AND {fingerprint} AND ({after}) \
         ORDER BY at {dir}, id {dir} LIMIT $6"
    )
}

/// Repository for alert history; get it from [`Database::history`].
#[derive(Debug, Clone, Copy)]
pub struct AlertHistory<'a> {
    pub(crate) db: &'a Database,
}

impl AlertHistory<'_> {
    /// Appends one event; returns its id.
    pub async fn append(&self, event: &HistoryEvent) -> Result<i64> {
        let ids = self.append_many(std::slice::from_ref(event)).await?;
        Ok(ids[0])
    }

    /// Appends events in one transaction; returns their ids in order.
    pub async fn append_many(&self, events: &[HistoryEvent]) -> Result<Vec<i64>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let encoded = events
            .iter()
            .map(|e| Ok((e, to_json("alert_history.labels", &e.labels)?)))
            .collect::<Result<Vec<_>>>()?;
        let sql = "INSERT INTO alert_history (at, fingerprint, labels, kind, receiver, \
             integration, detail) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
        let ids = in_write_tx!(self.db, tx => {
            let mut ids = Vec::with_capacity(encoded.len());
            for (e, labels) in &encoded {
                let id: i64 = sqlx::query_scalar(sql)
                    .bind(e.at)
                    .bind(&e.fingerprint)
                    .bind(labels)
                    .bind(e.kind.as_str())
                    .bind(e.receiver.as_deref())
                    .bind(e.integration.as_deref())
                    .bind(e.detail.as_deref())
                    .fetch_one(&mut *tx)
                    .await?;
                ids.push(id);
            }
            ids
        });
        Ok(ids)
    }

    /// Events selected by `query`, ordered by time (ties by id, i.e. append order).
    pub async fn query(&self, query: &HistoryQuery) -> Result<Vec<StoredEvent>> {
        let matchers = compile_all(&query.matchers)?;
        let limit = query.limit.unwrap_or(usize::MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let from = query.from.unwrap_or(i64::MIN);
        let to = query.to.unwrap_or(i64::MAX);
        let filtered = !matchers.is_empty() || !query.kinds.is_empty();
        let page = if filtered { PAGE } else { limit.min(PAGE) };
        let sql = page_sql(query.order, query.fingerprint.is_some());
        let fingerprint = query.fingerprint.as_deref().unwrap_or("");
        let mut cursor = match query.order {
            Order::Ascending => (i64::MIN, i64::MIN),
            Order::Descending => (i64::MAX, i64::MAX),
        };
        let mut out = Vec::new();
        loop {
            let rows: Vec<Row> = on_pool!(self.db, p => sqlx::query_as(&sql)
                .bind(from)
                .bind(to)
                .bind(fingerprint)
                .bind(cursor.0)
                .bind(cursor.1)
                .bind(page as i64)
                .fetch_all(p)
                .await)?;
            let last_page = rows.len() < page;
            if let Some(last) = rows.last() {
                cursor = (last.1, last.0);
            }
            for row in rows {
                let stored = decode(row)?;
                let kind_ok = query.kinds.is_empty() || query.kinds.contains(&stored.event.kind);
                if kind_ok && all_match(&matchers, &stored.event.labels) {
                    out.push(stored);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            if last_page {
                return Ok(out);
            }
        }
    }

    /// Deletes events older than `cutoff_ms` (`at < cutoff_ms`), the history's
    /// retention; returns how many.
    pub async fn delete_before(&self, cutoff_ms: i64) -> Result<u64> {
        let done = on_pool!(self.db, p => sqlx::query("DELETE FROM alert_history WHERE at < $1")
            .bind(cutoff_ms)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>().unwrap(), k);
        }
        assert!("paged".parse::<EventKind>().is_err());
    }

    #[test]
    fn page_sql_keeps_parameter_numbers() {
        for order in [Order::Ascending, Order::Descending] {
            for fp in [true, false] {
                let sql = page_sql(order, fp);
                for n in 1..=6 {
                    assert!(sql.contains(&format!("${n}")), "{sql}");
                }
            }
        }
    }
}
