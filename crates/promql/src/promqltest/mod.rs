//! Runner for Prometheus's own PromQL acceptance scripts (upstream's `promqltest` `.test`
//! files), so the engine can be measured against the behaviour they pin down.
//!
//! The runner reimplements upstream's script language and checks: every instant eval is also
//! run with `@` pinned on its selectors at several evaluation times, and as a range query
//! around its time; an eval passes only if all of that agrees with the expectations. Data
//! goes through a [`TestStorage`], so the suite can run over the real TSDB.
//!
//! The suite itself is `tests/promqltest.rs`:
//! `cargo test -p pharos-promql --test promqltest -- --nocapture` prints the per-file table,
//! every failure with its reason, the totals for all evals, for those without native
//! histograms and for tier-1, and writes the same to `target/promqltest-report.md`.
//!
//! Native histograms are not modelled: evals that expect them or read series loaded with
//! them are skipped (and counted as skipped). `@st` start-timestamp lines of loads are
//! accepted but ignored, since storage keeps no start timestamps.
//!
//! | module | job |
//! |---|---|
//! | [`parse`] | script language: commands, series descriptions, expanding value notation |
//! | [`compare`] | result comparison with upstream's tolerance and rules |
//! | [`rewrite`] | `@` variants of a query; selectors, to spot native-histogram reads |
//! | [`run`] | executes a script against a [`QueryEngine`] and a [`TestStorage`] |
//! | [`report`] | per-file and subset tallies (via `inventory.csv`), Markdown report |

pub mod compare;
pub mod parse;
pub mod report;
pub mod rewrite;
pub mod run;

pub use report::{render_markdown, summarize, Inventory, Summary, Totals};
pub use run::{run_script, EvalOutcome, FileReport, QueryEngine, SkipReason, Status, TestStorage};

use crate::EngineOptions;
use std::time::Duration;

/// Engine settings the scripts' expectations assume (upstream's test engine).
pub fn engine_options() -> EngineOptions {
    EngineOptions {
        lookback_delta_ms: 5 * 60_000,
        max_samples: 10_000,
        timeout: Duration::from_secs(100),
        default_subquery_step_ms: 60_000,
        delayed_name_removal: true,
        ..EngineOptions::default()
    }
}
