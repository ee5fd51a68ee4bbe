//! SLO budget engine cost: a TSDB holding an SLO window of request counters, and the
//! time one status evaluation takes (SLI, budget, the seven burn windows) when every
//! span is read with direct queries, as `GET /api/v1/slos/{id}?time=` does, and with
//! the engine's bucket cache, as the periodic evaluation and `/freeze` do: cold (the
//! first evaluation fills the window) and warm (the following evaluations, one per
//! minute). In process, with Pharos's PromQL engine. See bench/README.md.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use pharos_model::{LabelRef, Queryable, Sample, WriteBatch};
use pharos_promql::{Cancel, Engine, EngineOptions};
use pharos_server::slo::buckets::BucketCache;
use pharos_server::slo::engine::EngineQuery;
use pharos_server::slo::eval;
use pharos_tsdb::Db;

use crate::util;

#[derive(Args)]
pub struct SloArgs {
    /// Instances reporting the request counter; each has a `code="200"` and a
    /// `code="500"` series.
    #[arg(long, default_value_t = 100)]
    instances: usize,
    /// SLO window in days (7, 28 or 30); the data covers it.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Seconds between samples.
    #[arg(long, default_value_t = 60)]
    step: i64,
    /// Measured evaluations of each kind; the report gives the median.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Where the temp dir goes; defaults to the system temp dir.
    #[arg(long)]
    work_dir: Option<std::path::PathBuf>,
}

/// Writes the counters in time order, one batch per timestamp; returns the time of
/// the last sample.
fn populate(db: &Db, a: &SloArgs, end_ms: i64) -> Result<(i64, u64)> {
    let steps = i64::from(a.days) * 86_400 / a.step;
    let first = end_ms - steps * a.step * 1000;
    let names: Vec<String> = (0..a.instances)
        .map(|i| format!("10.0.{}.{}:8080", i / 250, i % 250))
        .collect();
    let mut ok = vec![0.0f64; a.instances];
    let mut bad = vec![0.0f64; a.instances];
    let mut written = 0u64;
    for k in 0..=steps {
        let t = first + k * a.step * 1000;
        let mut wb = WriteBatch::default();
        for (i, inst) in names.iter().enumerate() {
            // 10 requests/s per instance; 0.05 % fail, 2 % during one hour a day.
            let per_step = 10.0 * a.step as f64;
            let bad_share = if (k * a.step / 3_600) % 24 == 13 {
                0.02
            } else {
                0.0005
            };
            bad[i] += per_step * bad_share;
            ok[i] += per_step * (1.0 - bad_share);
            for (code, v) in [("200", ok[i]), ("500", bad[i])] {
                let labels = [
                    LabelRef {
                        name: "__name__",
                        value: "http_requests_total",
                    },
                    LabelRef {
                        name: "code",
                        value: code,
                    },
                    LabelRef {
                        name: "instance",
                        value: inst,
                    },
                    LabelRef {
                        name: "job",
                        value: "checkout",
                    },
                ];
                wb.push_series(&labels, &[Sample { t, v }]);
            }
        }
        let out = db
            .append(&wb)
            .map_err(|e| anyhow::anyhow!("append failed: {e}"))?;
        if out.rejected_total() > 0 {
            bail!(
                "the TSDB refused samples: {}",
                out.first_rejection.unwrap_or_default()
            );
        }
        written += out.samples_appended;
        if util::interrupted() {
            bail!("interrupted");
        }
    }
    Ok((first + steps * a.step * 1000, written))
}

pub fn run(a: SloArgs) -> Result<ExitCode> {
    if a.rounds == 0 || a.instances == 0 || a.step <= 0 {
        bail!("--rounds, --instances and --step must be positive");
    }
    let base = a.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base)?;
    let root = tempfile::Builder::new()
        .prefix("pharos-bench-slo-")
        .tempdir_in(&base)?;
    let db = Db::open(root.path(), pharos_tsdb::Options::default())
        .map_err(|e| anyhow::anyhow!("opening the TSDB: {e}"))?;
    let started = Instant::now();
    let (last, written) = populate(&db, &a, util::now_ms())?;
    eprintln!(
        "wrote {written} samples ({} series, {} days at {} s) in {:.1} s",
        a.instances * 2,
        a.days,
        a.step,
        started.elapsed().as_secs_f64()
    );
    let spec = format!(
        "slos:\n  - service: checkout\n    name: availability\n    objective: 99.9\n    window: {}d\n    sli:\n      bad_events: sum(rate(http_requests_total{{job=\"checkout\",code=~\"5..\"}}[{{{{.window}}}}]))\n      total_events: sum(rate(http_requests_total{{job=\"checkout\"}}[{{{{.window}}}}]))\n",
        a.days
    );
    let slo = pharos_slo::load_str(&spec, "bench")
        .map_err(|e| anyhow::anyhow!("{e:?}"))?
        .remove(0);
    let storage: Arc<dyn Queryable> = db.clone();
    let q = EngineQuery {
        engine: Arc::new(Engine::new(EngineOptions::default())),
        storage,
        cancel: Cancel::new(),
    };
    let t0 = last + 30_000;

    let mut direct = Vec::new();
    let mut reference = None;
    for _ in 0..a.rounds {
        let s = Instant::now();
        let st = eval::status(&slo, &q, t0).map_err(|e| anyhow::anyhow!(e))?;
        direct.push(s.elapsed().as_secs_f64());
        reference = Some(st);
    }
    let mut cache = BucketCache::new(slo.clone());
    let s = Instant::now();
    let cold_status = eval::status_with(&slo, t0, &mut |x, y| cache.measure(&q, x, y))
        .map_err(|e| anyhow::anyhow!(e))?;
    let cold = s.elapsed().as_secs_f64();
    let mut warm = Vec::new();
    for k in 1..=a.rounds as i64 {
        let s = Instant::now();
        eval::status_with(&slo, t0 + k * 60_000, &mut |x, y| cache.measure(&q, x, y))
            .map_err(|e| anyhow::anyhow!(e))?;
        warm.push(s.elapsed().as_secs_f64());
    }
    let reference = reference
        .map(|r| r.budget.consumed_ratio)
        .unwrap_or(f64::NAN);
    let cached = cold_status.budget.consumed_ratio;
    let (d, w) = (util::median(direct), util::median(warm));
    println!(
        "SLO budget evaluation, {} series, {}-day window of {} s samples ({written} samples)",
        a.instances * 2,
        a.days,
        a.step
    );
    println!("| reading | median per evaluation |");
    println!("|---|---|");
    println!(
        "| direct queries (every span from raw samples) | {:.1} ms |",
        d * 1e3
    );
    println!(
        "| bucket cache, first evaluation (fills the window) | {:.1} ms |",
        cold * 1e3
    );
    println!(
        "| bucket cache, following evaluations | {:.1} ms |",
        w * 1e3
    );
    println!("direct / cached (warm): {:.0}x", d / w);
    println!(
        "budget consumed: direct {:.4}%, cached {:.4}% (relative difference {:.2e})",
        reference * 100.0,
        cached * 100.0,
        ((cached - reference) / reference).abs()
    );
    Ok(ExitCode::SUCCESS)
}
