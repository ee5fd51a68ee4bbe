//! Durable `for` state of alerting rules: since when each pending or firing alert
//! of a rule has been active. The rules engine restores it at start so a restart
//! does not reset `for` clocks; it complements the TSDB's `ALERTS_FOR_STATE`
//! series, which is only as durable as the TSDB's retention and lookback.

use crate::db::{in_write_tx, on_pool, Database};
use crate::error::{Result, StateError};

/// One active alert of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleForState {
    pub rule: String,
    /// Fingerprint of the alert's label set.
    pub fingerprint: String,
    /// Unix milliseconds when the alert became active.
    pub active_at: i64,
}

impl RuleForState {
    pub fn new(rule: impl Into<String>, fingerprint: impl Into<String>, active_at: i64) -> Self {
        Self {
            rule: rule.into(),
            fingerprint: fingerprint.into(),
            active_at,
        }
    }
}

/// Repository for rule `for` state; get it from [`Database::rule_states`].
#[derive(Debug, Clone, Copy)]
pub struct RuleStates<'a> {
    pub(crate) db: &'a Database,
}

impl RuleStates<'_> {
    /// Replaces the whole state of `group` with `states` in one transaction, as
    /// after each evaluation of the group: alerts no longer active disappear.
    pub async fn save_group(&self, group: &str, states: &[RuleForState]) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for s in states {
            if !seen.insert((&s.rule, &s.fingerprint)) {
                return Err(StateError::InvalidRecord {
                    what: "rule state",
                    reason: format!(
                        "rule {:?} of group {group:?} lists alert {} twice",
                        s.rule, s.fingerprint
                    ),
                });
            }
        }
        let insert = "INSERT INTO rule_for_state (rule_group, rule_name, fingerprint, active_at) \
             VALUES ($1, $2, $3, $4)";
        in_write_tx!(self.db, tx => {
            sqlx::query("DELETE FROM rule_for_state WHERE rule_group = $1")
                .bind(group)
                .execute(&mut *tx)
                .await?;
            for s in states {
                sqlx::query(insert)
                    .bind(group)
                    .bind(&s.rule)
                    .bind(&s.fingerprint)
                    .bind(s.active_at)
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(())
    }

    /// The saved state of `group`, by rule then fingerprint.
    pub async fn load_group(&self, group: &str) -> Result<Vec<RuleForState>> {
        let sql = "SELECT rule_name, fingerprint, active_at FROM rule_for_state \
             WHERE rule_group = $1 ORDER BY rule_name, fingerprint";
        let rows: Vec<(String, String, i64)> = on_pool!(self.db, p => sqlx::query_as(sql)
            .bind(group)
            .fetch_all(p)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|(rule, fingerprint, active_at)| RuleForState {
                rule,
                fingerprint,
                active_at,
            })
            .collect())
    }

    /// Names of the groups with saved state, sorted; lets a reload drop the state
    /// of groups that no longer exist.
    pub async fn groups(&self) -> Result<Vec<String>> {
        let sql = "SELECT DISTINCT rule_group FROM rule_for_state ORDER BY rule_group";
        let rows: Vec<String> = on_pool!(self.db, p => sqlx::query_scalar(sql).fetch_all(p).await)?;
        Ok(rows)
    }

    /// Forgets `group`; returns how many alerts it had.
    pub async fn delete_group(&self, group: &str) -> Result<u64> {
        let done = on_pool!(self.db, p => sqlx::query("DELETE FROM rule_for_state WHERE rule_group = $1")
            .bind(group)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done)
    }
}
