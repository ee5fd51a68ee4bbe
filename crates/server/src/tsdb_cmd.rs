//! `pharos tsdb analyze` and `pharos tsdb dump`: offline views of a stopped server's data
//! directory, shaped like `promtool tsdb analyze|dump`.

pub mod selector;
pub mod time_arg;

use crate::config::PromDuration;
use crate::float_fmt::format_value;
use pharos_model::{Matcher, Series, SeriesSet, StorageError};
use pharos_tsdb::{Db, Options, TsdbError};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TsdbCmdError {
    #[error("data directory {0} does not exist")]
    NoDataDir(String),
    #[error("cannot open the database in {dir}: {source}")]
    Open {
        dir: String,
        #[source]
        source: TsdbError,
    },
    #[error("reading the database: {0}")]
    Read(#[from] StorageError),
    #[error("writing output: {0}")]
    Output(#[from] io::Error),
}

fn open(dir: &Path) -> Result<Arc<Db>, TsdbCmdError> {
    if !dir.is_dir() {
        return Err(TsdbCmdError::NoDataDir(dir.display().to_string()));
    }
    let opts = Options {
        background_maintenance: false,
        ..Options::default()
    };
    Db::open_read_only(dir, opts).map_err(|source| TsdbCmdError::Open {
        dir: dir.display().to_string(),
        source,
    })
}

/// A closed pipe (`pharos tsdb dump | head`) is the reader having seen enough.
fn quiet_broken_pipe(r: Result<(), TsdbCmdError>) -> Result<(), TsdbCmdError> {
    match r {
        Err(TsdbCmdError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

pub struct DumpArgs<'a> {
    pub data_dir: &'a Path,
    pub min_time: i64,
    pub max_time: i64,
    /// One entry per `--match`; a series is printed once if any selects it.
    pub selectors: Vec<Vec<Matcher>>,
}

/// Prints every sample of the selected series as `labels value timestamp_ms`, series in
/// label order and samples in time order.
pub fn dump(args: DumpArgs<'_>, out: &mut dyn Write) -> Result<(), TsdbCmdError> {
    let db = open(args.data_dir)?;
    let result = quiet_broken_pipe(dump_db(&db, &args, out));
    let _ = db.close();
    result
}

fn dump_db(db: &Db, args: &DumpArgs<'_>, out: &mut dyn Write) -> Result<(), TsdbCmdError> {
    use pharos_model::Queryable;
    let querier = db.querier(args.min_time, args.max_time)?;
    let default_selector;
    let selectors: &[Vec<Matcher>] = if args.selectors.is_empty() {
        // Matches every series, named or not.
        default_selector = [vec![Matcher::new(
            pharos_model::MatchOp::RegexMatch,
            pharos_model::METRIC_NAME,
            ".*",
        )
        .expect("constant regex")]];
        &default_selector
    } else {
        &args.selectors
    };
    let sets = selectors
        .iter()
        .map(|m| querier.select(m))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    for series in MergedSeries::new(sets) {
        let mut series = series?;
        let labels = series.labels.to_string();
        while let Some(s) = series.samples.next_sample() {
            writeln!(out, "{labels} {} {}", format_value(s.v), s.t)?;
        }
        if let Some(e) = series.samples.error() {
            return Err(StorageError::Other(format!("series {labels}: {e}")).into());
        }
    }
    out.flush()?;
    Ok(())
}

/// The union of sorted series streams, each label set once.
struct MergedSeries {
    sets: Vec<SeriesSet>,
    /// The next series of each set, not yet returned.
    heads: Vec<Option<Result<Series, StorageError>>>,
}

impl MergedSeries {
    fn new(mut sets: Vec<SeriesSet>) -> Self {
        let heads = sets.iter_mut().map(Iterator::next).collect();
        MergedSeries { sets, heads }
    }

    fn labels(&self, i: usize) -> Option<&pharos_model::Labels> {
        match &self.heads[i] {
            Some(Ok(s)) => Some(&s.labels),
            _ => None,
        }
    }
}

impl Iterator for MergedSeries {
    type Item = Result<Series, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(i) = self.heads.iter().position(|h| matches!(h, Some(Err(_)))) {
            // A failed set is done; reading on could repeat the error forever.
            self.sets[i] = Box::new(std::iter::empty());
            return self.heads[i].take();
        }
        let best = (0..self.heads.len())
            .filter(|&i| self.labels(i).is_some())
            .min_by(|&a, &b| self.labels(a).cmp(&self.labels(b)))?;
        let chosen = self.heads[best].take()?;
        self.heads[best] = self.sets[best].next();
        if let Ok(series) = &chosen {
            for i in 0..self.heads.len() {
                if self.labels(i) == Some(&series.labels) {
                    self.heads[i] = self.sets[i].next();
                }
            }
        }
        Some(chosen)
    }
}

/// Prints the cardinality report of the whole database, top `limit` per list.
pub fn analyze(data_dir: &Path, limit: usize, out: &mut dyn Write) -> Result<(), TsdbCmdError> {
    let db = open(data_dir)?;
    let result = quiet_broken_pipe(analyze_db(&db, data_dir, limit, out));
    let _ = db.close();
    result
}

fn time_range(min: i64, max: i64) -> String {
    if min > max {
        return "empty".to_owned();
    }
    let span = PromDuration::from_millis((max - min) as u64);
    format!(
        "{} .. {} ({span}, {min} .. {max} ms)",
        time_arg::format_time(min),
        time_arg::format_time(max)
    )
}

fn analyze_db(
    db: &Db,
    data_dir: &Path,
    limit: usize,
    out: &mut dyn Write,
) -> Result<(), TsdbCmdError> {
    let stats = db.stats();
    let report = db.cardinality(limit);
    writeln!(out, "Data directory: {}", data_dir.display())?;
    writeln!(
        out,
        "Blocks: {} ({} bytes)",
        stats.blocks_loaded, stats.blocks_bytes
    )?;
    let head_range = if stats.head_series == 0 {
        "empty".to_owned()
    } else {
        time_range(stats.head_min_time_ms, stats.head_max_time_ms)
    };
    writeln!(out, "Head: {} series, {head_range}", stats.head_series)?;
    let all_range = if report.num_series == 0 {
        "empty".to_owned()
    } else {
        time_range(report.min_time_ms, report.max_time_ms)
    };
    writeln!(out, "Time range: {all_range}")?;
    writeln!(out, "Total series: {}", report.num_series)?;
    writeln!(
        out,
        "Postings (unique label pairs): {}",
        report.num_label_pairs
    )?;
    let lists = [
        (
            "Highest cardinality metric names",
            &report.series_count_by_metric_name,
        ),
        (
            "Highest cardinality labels",
            &report.label_value_count_by_label_name,
        ),
        (
            "Most common label pairs",
            &report.series_count_by_label_value_pair,
        ),
        (
            "Label names with highest cumulative label value length",
            &report.memory_in_bytes_by_label_name,
        ),
    ];
    for (title, list) in lists {
        writeln!(out, "\n{title}:")?;
        for (name, count) in list.iter().take(limit) {
            writeln!(out, "{count} {name}")?;
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::{Labels, Sample, VecSampleIter};

    fn set(names: &[&str]) -> SeriesSet {
        let v: Vec<Result<Series, StorageError>> = names
            .iter()
            .map(|n| {
                Ok(Series {
                    labels: Labels::from_pairs([("__name__", *n)]),
                    samples: Box::new(VecSampleIter::new(vec![Sample { t: 1, v: 1.0 }])),
                })
            })
            .collect();
        Box::new(v.into_iter())
    }

    #[test]
    fn merge_unions_sorted_sets() {
        let m = MergedSeries::new(vec![set(&["a", "c", "d"]), set(&["b", "c"]), set(&[])]);
        let names: Vec<String> = m
            .map(|s| s.unwrap().labels.metric_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
    }

    #[test]
    fn time_ranges() {
        assert_eq!(time_range(1, 0), "empty");
        assert_eq!(
            time_range(1_700_000_000_000, 1_700_007_200_000),
            "2023-11-14T22:13:20Z .. 2023-11-15T00:13:20Z (2h, 1700000000000 .. 1700007200000 ms)"
        );
    }
}
