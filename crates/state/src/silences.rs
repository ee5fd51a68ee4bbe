//! Silences: Alertmanager's silence records, kept across restarts and shared by
//! instances on one PostgreSQL database.

use crate::codec::{from_json, to_json};
use crate::db::{on_pool, Database};
use crate::error::{Result, StateError};
use crate::matcher::Matcher;

/// A silence as the API creates it. Times are unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub updated_at: i64,
    pub created_by: String,
    pub comment: String,
    /// For a recurring silence, its schedule: YAML of a list of time intervals as
    /// under alertmanager.yml's `time_intervals`; stored as given.
    pub schedule: Option<String>,
}

/// Where a silence is in its life at a given time, as Alertmanager computes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SilenceState {
    /// Not started yet: `at < starts_at`.
    Pending,
    /// Muting: `starts_at <= at < ends_at`.
    Active,
    /// Over: `at >= ends_at` (and started).
    Expired,
}

impl SilenceState {
    /// The name the Alertmanager API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Expired => "expired",
        }
    }
}

impl Silence {
    /// The state at `at_ms`; the same rule as the SQL in [`Silences::list_in_state`].
    pub fn state_at(&self, at_ms: i64) -> SilenceState {
        if at_ms < self.starts_at {
            SilenceState::Pending
        } else if at_ms < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }
}

type Row = (
    String,
    String,
    i64,
    i64,
    i64,
    String,
    String,
    Option<String>,
);

const COLUMNS: &str = "id, matchers, starts_at, ends_at, updated_at, created_by, comment, schedule";

fn decode(row: Row) -> Result<Silence> {
    let (id, matchers, starts_at, ends_at, updated_at, created_by, comment, schedule) = row;
    Ok(Silence {
        matchers: from_json("silences.matchers", &matchers)?,
        id,
        starts_at,
        ends_at,
        updated_at,
        created_by,
        comment,
        schedule,
    })
}

/// Repository for silences; get it from [`Database::silences`].
#[derive(Debug, Clone, Copy)]
pub struct Silences<'a> {
    pub(crate) db: &'a Database,
}

impl Silences<'_> {
    /// Inserts the silence or replaces the one with the same id.
    pub async fn upsert(&self, silence: &Silence) -> Result<()> {
        if silence.id.is_empty() {
            return Err(StateError::InvalidRecord {
                what: "silence",
                reason: "empty id".into(),
            });
        }
        if silence.ends_at < silence.starts_at {
            return Err(StateError::InvalidRecord {
                what: "silence",
                reason: format!("{} ends before it starts", silence.id),
            });
        }
        let matchers = to_json("silences.matchers", &silence.matchers)?;
        let sql = "INSERT INTO silences (id, matchers, starts_at, ends_at, updated_at, created_by, comment, schedule) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers, \
             starts_at = excluded.starts_at, ends_at = excluded.ends_at, \
             updated_at = excluded.updated_at, created_by = excluded.created_by, \
             comment = excluded.comment, schedule = excluded.schedule";
        on_pool!(self.db, p => sqlx::query(sql)
            .bind(&silence.id)
            .bind(&matchers)
            .bind(silence.starts_at)
            .bind(silence.ends_at)
            .bind(silence.updated_at)
            .bind(&silence.created_by)
            .bind(&silence.comment)
            .bind(silence.schedule.as_deref())
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The silence with `id`, if any.
    pub async fn get(&self, id: &str) -> Result<Option<Silence>> {
        let sql = format!("SELECT {COLUMNS} FROM silences WHERE id = $1");
        let row: Option<Row> = on_pool!(self.db, p => sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        row.map(decode).transpose()
    }

    /// Every silence, by start time then id.
    pub async fn list(&self) -> Result<Vec<Silence>> {
        let sql = format!("SELECT {COLUMNS} FROM silences ORDER BY starts_at, id");
        let rows: Vec<Row> = on_pool!(self.db, p => sqlx::query_as(&sql).fetch_all(p).await)?;
        rows.into_iter().map(decode).collect()
    }

    /// The silences in `state` at `at_ms`, by start time then id.
    pub async fn list_in_state(&self, state: SilenceState, at_ms: i64) -> Result<Vec<Silence>> {
        let condition = match state {
            SilenceState::Pending => "starts_at > $1",
            SilenceState::Active => "starts_at <= $1 AND ends_at > $1",
            SilenceState::Expired => "starts_at <= $1 AND ends_at <= $1",
        };
        let sql =
            format!("SELECT {COLUMNS} FROM silences WHERE {condition} ORDER BY starts_at, id");
        let rows: Vec<Row> = on_pool!(self.db, p => sqlx::query_as(&sql)
            .bind(at_ms)
            .fetch_all(p)
            .await)?;
        rows.into_iter().map(decode).collect()
    }

    /// Deletes the silence with `id`; returns whether it existed.
    pub async fn delete(&self, id: &str) -> Result<bool> {
        let done = on_pool!(self.db, p => sqlx::query("DELETE FROM silences WHERE id = $1")
            .bind(id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Deletes silences that ended before `cutoff_ms` (now minus the retention, as
    /// Alertmanager's `--data.retention`); returns how many.
    pub async fn delete_expired_before(&self, cutoff_ms: i64) -> Result<u64> {
        let done = on_pool!(self.db, p => sqlx::query("DELETE FROM silences WHERE ends_at < $1")
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
    fn state_boundaries() {
        let s = Silence {
            id: "a".into(),
            matchers: vec![],
            starts_at: 10,
            ends_at: 20,
            updated_at: 0,
            created_by: String::new(),
            comment: String::new(),
            schedule: None,
        };
        assert_eq!(s.state_at(9), SilenceState::Pending);
        assert_eq!(s.state_at(10), SilenceState::Active);
        assert_eq!(s.state_at(19), SilenceState::Active);
        assert_eq!(s.state_at(20), SilenceState::Expired);
        assert_eq!(SilenceState::Expired.as_str(), "expired");
    }
}
