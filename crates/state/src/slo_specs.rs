//! SLO specs created through the HTTP API, kept across restarts and shared by
//! instances on one PostgreSQL database. The document is stored as submitted (YAML
//! or JSON text); parsing and validating it is the caller's business.

use std::collections::HashSet;

use crate::db::{in_write_tx, on_pool, Database};
use crate::error::{Result, StateError};

/// A stored SLO spec. Times are unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SloSpec {
    /// The SLO's id, `service-name`.
    pub id: String,
    /// The document text exactly as submitted.
    pub spec: String,
    pub created_at: i64,
    pub updated_at: i64,
}

type Row = (String, String, i64, i64);

const COLUMNS: &str = "id, spec, created_at, updated_at";

/// Inserts a new row, leaving an existing one with the same id untouched; the
/// statement affects one row when it inserted and none when the id was taken.
const INSERT: &str = "INSERT INTO slo_specs (id, spec, created_at, updated_at) \
     VALUES ($1, $2, $3, $3) ON CONFLICT (id) DO NOTHING";

fn decode((id, spec, created_at, updated_at): Row) -> SloSpec {
    SloSpec {
        id,
        spec,
        created_at,
        updated_at,
    }
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(StateError::InvalidRecord {
            what: "SLO spec",
            reason: "empty id".into(),
        });
    }
    Ok(())
}

/// Repository for SLO specs; get it from [`Database::slo_specs`].
#[derive(Debug, Clone, Copy)]
pub struct SloSpecs<'a> {
    pub(crate) db: &'a Database,
}

impl SloSpecs<'_> {
    /// Stores a new spec created at `now_ms`. Returns false, changing nothing, when
    /// a spec with `id` already exists.
    pub async fn insert(&self, id: &str, spec: &str, now_ms: i64) -> Result<bool> {
        check_id(id)?;
        let inserted = on_pool!(self.db, p => sqlx::query(INSERT)
            .bind(id)
            .bind(spec)
            .bind(now_ms)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(inserted > 0)
    }

    /// Stores `spec` under `id`, replacing the document of an existing spec (which
    /// keeps its `created_at`; `updated_at` becomes `now_ms`). Returns true when it
    /// created the spec, false when it replaced one.
    pub async fn upsert(&self, id: &str, spec: &str, now_ms: i64) -> Result<bool> {
        check_id(id)?;
        let update = "UPDATE slo_specs SET spec = $2, updated_at = $3 WHERE id = $1";
        let created = in_write_tx!(self.db, tx => {
            // On PostgreSQL a spec that blocked the insert can be deleted by another
            // transaction before the update reaches it; then the insert is retried.
            // SQLite's write lock, taken at BEGIN, rules that out.
            loop {
                let inserted = sqlx::query(INSERT)
                    .bind(id)
                    .bind(spec)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if inserted > 0 {
                    break true;
                }
                let updated = sqlx::query(update)
                    .bind(id)
                    .bind(spec)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if updated > 0 {
                    break false;
                }
            }
        });
        Ok(created)
    }

    /// Stores all of `specs` (id, document) created at `now_ms`, in one
    /// transaction. When any id already exists nothing is stored and those ids are
    /// returned, in the order given; an empty result means every spec was stored.
    /// An id listed twice is refused as an invalid record.
    pub async fn insert_many(
        &self,
        specs: &[(String, String)],
        now_ms: i64,
    ) -> Result<Vec<String>> {
        let mut seen = HashSet::new();
        for (id, _) in specs {
            check_id(id)?;
            if !seen.insert(id.as_str()) {
                return Err(StateError::InvalidRecord {
                    what: "SLO spec",
                    reason: format!("id {id:?} is listed twice"),
                });
            }
        }
        if specs.is_empty() {
            return Ok(Vec::new());
        }
        let existing = in_write_tx!(self.db, tx => {
            let mut existing = Vec::new();
            for (id, spec) in specs {
                let inserted = sqlx::query(INSERT)
                    .bind(id)
                    .bind(spec)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if inserted == 0 {
                    existing.push(id.clone());
                }
            }
            if !existing.is_empty() {
                // All or nothing: undo the specs this batch did insert.
                tx.rollback().await?;
                return Ok(existing);
            }
            existing
        });
        Ok(existing)
    }

    /// The spec with `id`, if any.
    pub async fn get(&self, id: &str) -> Result<Option<SloSpec>> {
        let sql = format!("SELECT {COLUMNS} FROM slo_specs WHERE id = $1");
        let row: Option<Row> = on_pool!(self.db, p => sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(decode))
    }

    /// Every spec, by id in byte order.
    pub async fn list(&self) -> Result<Vec<SloSpec>> {
        // Sorted here rather than by ORDER BY: PostgreSQL orders text by the
        // database's collation (with a locale, `api-x` sorts after `apix`), SQLite by
        // bytes, and the API should list the same order on both.
        let sql = format!("SELECT {COLUMNS} FROM slo_specs");
        let mut rows: Vec<Row> = on_pool!(self.db, p => sqlx::query_as(&sql).fetch_all(p).await)?;
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(rows.into_iter().map(decode).collect())
    }

    /// Deletes the spec with `id`; returns whether it existed.
    pub async fn delete(&self, id: &str) -> Result<bool> {
        let done = on_pool!(self.db, p => sqlx::query("DELETE FROM slo_specs WHERE id = $1")
            .bind(id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }
}
