//! Upstream's PromQL acceptance scripts (`shared/conformance/promqltest/*.test`) run through
//! the engine over the real TSDB. Prints a per-file table, the failures and the subset
//! totals, writes them to `target/promqltest-report.md`, and fails when the tier-1 or
//! non-native-histogram pass counts drop below their floors.
//!
//! `cargo test -p pharos-promql --test promqltest -- --nocapture`
//! Environment: `PROMQLTEST_THREADS` (default 2), `PROMQLTEST_FILES=a.test,b.test` to run
//! a subset (the floors are then not checked).

use pharos_model::{LabelRef, Labels, Queryable, Sample, WriteBatch};
use pharos_promql::promqltest::parse::{parse_script, Command, SeqValue};
use pharos_promql::promqltest::{
    self, render_markdown, report, run_script, summarize, FileReport, Inventory, QueryEngine,
    Status, TestStorage,
};
use pharos_promql::{Engine, QueryError, QueryResult, Value};
use pharos_tsdb::{Db, FsyncPolicy, Limits, Options};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Tier-1 core evals (inventory `tier1_core=1`, 816 in all) that must pass. Raise it as the
/// engine improves; a drop means a regression.
const TIER1_FLOOR: usize = 816;
/// Evals without native histograms (1,284 in all) that must pass.
const NON_NH_FLOOR: usize = 1270;

/// A fresh on-disk TSDB per segment of a script, so the suite exercises real storage.
struct DbStorage {
    root: tempfile::TempDir,
    generation: u64,
    db: Option<Arc<Db>>,
}

impl DbStorage {
    fn new() -> DbStorage {
        let mut s = DbStorage {
            root: tempfile::tempdir().expect("temporary directory"),
            generation: 0,
            db: None,
        };
        s.open();
        s
    }

    fn options() -> Options {
        // Scripts load data in any time order (a later `load` may go back to t=0), span
        // days, and must never see a cut, compaction or retention run in between.
        let forever = i64::MAX / 4;
        Options {
            retention_ms: forever,
            retention_bytes: 0,
            block_span_ms: forever,
            ooo_window_ms: forever,
            fsync: FsyncPolicy::Never,
            limits: Limits {
                max_series: 0,
                max_series_per_metric: 0,
                max_labels_per_series: usize::MAX,
                max_label_name_length: usize::MAX,
                max_label_value_length: usize::MAX,
            },
            background_maintenance: false,
            ..Options::default()
        }
    }

    fn open(&mut self) {
        self.generation += 1;
        let dir = self.root.path().join(format!("db-{}", self.generation));
        self.db = Some(Db::open(&dir, Self::options()).expect("open TSDB"));
    }
}

impl TestStorage for DbStorage {
    fn clear(&mut self) {
        if let Some(db) = self.db.take() {
            let dir = db.dir().to_path_buf();
            let _ = db.close();
            drop(db);
            let _ = std::fs::remove_dir_all(dir);
        }
        self.open();
    }

    fn load(&mut self, series: Vec<(Labels, Vec<Sample>)>) -> Result<(), String> {
        let db = self.db.as_ref().expect("storage is open");
        let refs: Vec<Vec<LabelRef<'_>>> = series
            .iter()
            .map(|(labels, _)| {
                labels
                    .iter()
                    .map(|l| LabelRef {
                        name: &l.name,
                        value: &l.value,
                    })
                    .collect()
            })
            .collect();
        let mut batch = WriteBatch::default();
        for ((_, samples), labels) in series.iter().zip(&refs) {
            batch.push_series(labels, samples);
        }
        let outcome = db.append(&batch).map_err(|e| e.to_string())?;
        let refused: u64 = outcome.rejected.iter().sum();
        if refused > 0 {
            return Err(format!(
                "{refused} samples refused; first: {}",
                outcome.first_rejection.unwrap_or_default()
            ));
        }
        Ok(())
    }

    fn queryable(&self) -> &dyn Queryable {
        &**self.db.as_ref().expect("storage is open")
    }
}

fn scripts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/promqltest");
    assert!(
        dir.is_dir(),
        "promqltest scripts not found at {} (expected the shared conformance folder next to the \
         repository, with the 21 upstream .test files and inventory.csv)",
        dir.display()
    );
    dir
}

fn report_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("promqltest-report.md")
}

/// Runs the files on a few threads, each with its own engine and database; largest first
/// so the threads finish together.
fn run_files(dir: &Path, files: Vec<String>, threads: usize) -> Vec<FileReport> {
    let mut queue: Vec<(u64, String)> = files
        .into_iter()
        .map(|f| {
            let size = std::fs::metadata(dir.join(&f)).map_or(0, |m| m.len());
            (size, f)
        })
        .collect();
    queue.sort();
    let queue = Mutex::new(queue);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                let engine = Engine::new(promqltest::engine_options());
                let mut storage = DbStorage::new();
                loop {
                    let Some((_, file)) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let text = std::fs::read_to_string(dir.join(&file))
                        .unwrap_or_else(|e| panic!("read {file}: {e}"));
                    let started = std::time::Instant::now();
                    let r = run_script(&file, &text, &engine, &mut storage);
                    eprintln!(
                        "  {file}: {} passed, {} failed, {} skipped in {:.1?}",
                        r.count(promqltest::Status::Passed),
                        r.count(promqltest::Status::Failed),
                        r.count(promqltest::Status::Skipped),
                        started.elapsed()
                    );
                    results.lock().unwrap().push(r);
                }
            });
        }
    });
    let mut reports = results.into_inner().unwrap();
    reports.sort_by(|a, b| a.file.cmp(&b.file));
    reports
}

#[test]
fn promqltest_scripts() {
    let dir = scripts_dir();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("list promqltest directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".test"))
        .collect();
    files.sort();
    let subset = std::env::var("PROMQLTEST_FILES").ok();
    if let Some(only) = &subset {
        let wanted: Vec<&str> = only.split(',').map(str::trim).collect();
        files.retain(|f| wanted.contains(&f.as_str()));
    } else {
        assert_eq!(
            files.len(),
            21,
            "expected the 21 upstream scripts, found {files:?}"
        );
    }
    let inventory = Inventory::parse(
        &std::fs::read_to_string(dir.join("inventory.csv")).expect("read inventory.csv"),
    )
    .expect("parse inventory.csv");
    let threads = std::env::var("PROMQLTEST_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);

    let reports = run_files(&dir, files, threads);
    let summary = summarize(&reports, &inventory);

    println!("{}", report::render_table(&summary));
    println!("{}", report::render_details(&reports));
    println!("{}", report::render_totals(&summary));
    let path = report_path();
    match std::fs::write(&path, render_markdown(&reports, &summary)) {
        Ok(()) => println!("report written to {}", path.display()),
        Err(e) => println!("could not write {}: {e}", path.display()),
    }
    println!(
        "tier-1: {} passed (floor {TIER1_FLOOR}); without native histograms: {} passed (floor {NON_NH_FLOOR})",
        summary.tier1.passed, summary.non_nh.passed
    );
    println!("{}", report::final_line(&summary));

    if subset.is_none() {
        assert!(
            summary.not_in_inventory.is_empty(),
            "evals the inventory does not list (the script parser disagrees with it): {:?}",
            summary.not_in_inventory
        );
        assert_eq!(
            summary.all.evals,
            inventory.len(),
            "the scripts hold a different number of evals than inventory.csv"
        );
        assert!(
            summary.tier1.passed >= TIER1_FLOOR,
            "tier-1 regression: {} passed, floor is {TIER1_FLOOR}",
            summary.tier1.passed
        );
        assert!(
            summary.non_nh.passed >= NON_NH_FLOOR,
            "regression in evals without native histograms: {} passed, floor is {NON_NH_FLOOR}",
            summary.non_nh.passed
        );
    }
}

/// The engine, with every finite value pushed 0.1% (and 0.001) away from zero.
struct Nudged(Engine);

fn nudge(mut r: QueryResult) -> QueryResult {
    // Growing the magnitude leaves no value unchanged, unlike an affine shift.
    let f = |v: &mut f64| {
        if v.is_finite() {
            *v = *v * 1.001 + 0.001_f64.copysign(*v);
        }
    };
    match &mut r.value {
        Value::Scalar { v, .. } => f(v),
        Value::Vector(samples) => samples.iter_mut().for_each(|s| f(&mut s.v)),
        Value::Matrix(series) => series
            .iter_mut()
            .flat_map(|s| s.points.iter_mut())
            .for_each(|p| f(&mut p.v)),
        Value::String { .. } => {}
    }
    r
}

impl QueryEngine for Nudged {
    fn instant(
        &self,
        q: &dyn Queryable,
        query: &str,
        t_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.0.instant(q, query, t_ms).map(nudge)
    }

    fn range(
        &self,
        q: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.0.range(q, query, start_ms, end_ms, step_ms).map(nudge)
    }
}

/// Guards the runner itself: with every value slightly wrong, the only evals that may
/// still pass are those whose expectations hold no finite value.
#[test]
fn runner_rejects_wrong_values() {
    let dir = scripts_dir();
    let engine = Nudged(Engine::new(promqltest::engine_options()));
    let mut storage = DbStorage::new();
    for file in [
        "aggregators.test",
        "operators.test",
        "at_modifier.test",
        "range_queries.test",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).expect("read script");
        let report = run_script(file, &text, &engine, &mut storage);
        let script = parse_script(&text);
        for o in report
            .outcomes
            .iter()
            .filter(|o| o.status == Status::Passed)
        {
            let ev = script
                .commands
                .iter()
                .find_map(|c| match c {
                    Command::Eval(e) if e.line == o.line => Some(e),
                    _ => None,
                })
                .expect("passed eval is in the script");
            let finite = |v: &SeqValue| matches!(v, SeqValue::Float(f) if f.is_finite());
            let expects_finite = ev.expected_scalar.is_some_and(f64::is_finite)
                || ev.expected.iter().any(|s| s.values.iter().any(finite));
            assert!(
                ev.fail || !expects_finite,
                "{file}:{} passed although every value was off: {}",
                o.line,
                o.query
            );
        }
    }
}
