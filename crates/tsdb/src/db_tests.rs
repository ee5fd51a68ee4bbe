//! Behaviour of the whole database through its public API.

use crate::{Db, Limits, Options, RejectReason};
use pharos_model::{LabelRef, MatchOp, Matcher, Queryable, Sample, WriteBatch, STALE_NAN};
use std::sync::Arc;

fn opts() -> Options {
    Options {
        background_maintenance: false,
        ..Options::default()
    }
}

type SeriesSpec<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

fn write(db: &Db, series: &[SeriesSpec<'_>]) -> crate::AppendOutcome {
    let mut batch = WriteBatch::default();
    for (labels, samples) in series {
        let ls: Vec<LabelRef> = labels
            .iter()
            .map(|&(name, value)| LabelRef { name, value })
            .collect();
        let ss: Vec<Sample> = samples.iter().map(|&(t, v)| Sample { t, v }).collect();
        batch.push_series(&ls, &ss);
    }
    db.append(&batch).unwrap()
}

fn read_all(db: &Db, matchers: &[Matcher]) -> Vec<(String, Vec<(i64, u64)>)> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    q.select(matchers)
        .unwrap()
        .map(|s| {
            let mut s = s.unwrap();
            let mut out = Vec::new();
            while let Some(x) = s.samples.next_sample() {
                out.push((x.t, x.v.to_bits()));
            }
            (s.labels.to_string(), out)
        })
        .collect()
}

const UP_A: &[(&str, &str)] = &[("__name__", "up"), ("job", "a")];
const UP_B: &[(&str, &str)] = &[("__name__", "up"), ("job", "b")];

#[test]
fn special_values_round_trip_through_head_block_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let values = [
        1.5,
        f64::NAN,
        STALE_NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE / 4.0,
    ];
    let samples: Vec<(i64, f64)> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (1000 + i as i64 * 15_000, v))
        .collect();
    let expect: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    {
        let db = Db::open(dir.path(), opts()).unwrap();
        write(&db, &[(UP_A, &samples)]);
        assert_eq!(
            read_all(&db, &[]),
            vec![("up{job=\"a\"}".to_string(), expect.clone())]
        );
        db.close().unwrap();
    }
    {
        let db = Db::open(dir.path(), opts()).unwrap();
        assert_eq!(read_all(&db, &[])[0].1, expect, "after WAL replay");
        db.flush().unwrap();
        assert_eq!(db.block_metas().len(), 1);
        assert_eq!(read_all(&db, &[])[0].1, expect, "from the block");
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(read_all(&db, &[])[0].1, expect, "block after restart");
    assert_eq!(db.stats().head_series, 0, "flushed series leave the head");
}

#[test]
fn out_of_order_window_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let base = 10 * crate::HOUR_MS;
    write(&db, &[(UP_A, &[(base, 1.0), (base + 60_000, 2.0)])]);
    // 5 minutes late: inside the 10 minute window.
    let o = write(&db, &[(UP_A, &[(base + 30_000, 1.5)])]);
    assert_eq!(o.samples_appended, 1);
    // Same timestamp, same value: accepted silently; different value: refused.
    let o = write(&db, &[(UP_A, &[(base + 60_000, 2.0)])]);
    assert_eq!(o.rejected_total(), 0);
    let o = write(&db, &[(UP_A, &[(base + 60_000, 3.0)])]);
    assert_eq!(o.rejected[RejectReason::DuplicateTimestamp.index()], 1);
    // Far too old.
    let o = write(&db, &[(UP_A, &[(base - crate::HOUR_MS, 0.0)])]);
    assert_eq!(o.rejected[RejectReason::TooOld.index()], 1);
    assert!(o
        .first_rejection
        .unwrap()
        .contains("older than the out-of-order window"));
    let got = read_all(&db, &[]);
    let ts: Vec<i64> = got[0].1.iter().map(|x| x.0).collect();
    assert_eq!(ts, vec![base, base + 30_000, base + 60_000]);
    // And the late sample survives a restart and a flush.
    db.close().unwrap();
    drop(db);
    let db = Db::open(dir.path(), opts()).unwrap();
    db.flush().unwrap();
    let got = read_all(&db, &[]);
    assert_eq!(
        got[0].1.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![base, base + 30_000, base + 60_000]
    );
}

#[test]
fn limits_refuse_per_series_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options {
            limits: Limits {
                max_series: 1,
                ..Limits::default()
            },
            ..opts()
        },
    )
    .unwrap();
    let o = write(&db, &[(UP_A, &[(1, 1.0)]), (UP_B, &[(1, 1.0), (2, 2.0)])]);
    assert_eq!(o.samples_appended, 1);
    assert_eq!(o.rejected[RejectReason::MaxSeries.index()], 2);
    assert!(o.any_limit_hit());
    assert_eq!(
        db.stats().samples_rejected_total[RejectReason::MaxSeries.index()],
        2
    );
    assert_eq!(read_all(&db, &[]).len(), 1);
}

#[test]
fn matchers_select_across_head_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    write(&db, &[(UP_A, &[(1000, 1.0)]), (UP_B, &[(1000, 1.0)])]);
    db.flush().unwrap();
    write(
        &db,
        &[
            (UP_A, &[(2000, 2.0)]),
            (&[("__name__", "other")], &[(2000, 5.0)]),
        ],
    );
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    let got = read_all(&db, &[m(MatchOp::Equal, "job", "a")]);
    assert_eq!(
        got,
        vec![(
            "up{job=\"a\"}".to_string(),
            vec![(1000, 1f64.to_bits()), (2000, 2f64.to_bits())]
        )]
    );
    assert_eq!(read_all(&db, &[m(MatchOp::Equal, "job", "")]).len(), 1);
    assert_eq!(
        read_all(&db, &[m(MatchOp::RegexMatch, "job", "a|b")]).len(),
        2
    );
    assert_eq!(read_all(&db, &[m(MatchOp::NotEqual, "job", "a")]).len(), 2);
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    assert_eq!(q.label_names(&[]).unwrap(), vec!["__name__", "job"]);
    assert_eq!(q.label_values("job", &[]).unwrap(), vec!["a", "b"]);
    assert_eq!(
        q.label_values("__name__", &[m(MatchOp::Equal, "job", "b")])
            .unwrap(),
        vec!["up"]
    );
}

#[test]
fn head_cuts_blocks_compacts_and_applies_retention() {
    let dir = tempfile::tempdir().unwrap();
    let span = 10_000;
    let db: Arc<Db> = Db::open(
        dir.path(),
        Options {
            block_span_ms: span,
            ooo_window_ms: 1000,
            retention_ms: 300_000,
            samples_per_head_chunk: 4,
            ..opts()
        },
    )
    .unwrap();
    // 400 s of data at 1 s: many spans.
    for t in 0..400 {
        write(
            &db,
            &[
                (UP_A, &[(t * 1000, t as f64)]),
                (UP_B, &[(t * 1000, -(t as f64))]),
            ],
        );
        if t % 20 == 0 {
            db.compact().unwrap();
        }
    }
    db.compact().unwrap();
    let stats = db.stats();
    assert!(stats.head_truncations_total > 5, "{stats:?}");
    assert!(stats.compactions_total > 0, "{stats:?}");
    assert!(stats.retention_deletions_time_total > 0, "{stats:?}");
    let metas = db.block_metas();
    assert!(metas.iter().any(|m| m.compaction.level > 1));
    for w in metas.windows(2) {
        assert!(
            w[0].max_time <= w[1].min_time,
            "no overlaps after compaction: {metas:?}"
        );
    }
    // Whatever is left is exact and contiguous up to the newest sample.
    let got = read_all(&db, &[Matcher::equal("job", "a")]);
    let ts: Vec<i64> = got[0].1.iter().map(|x| x.0).collect();
    let first = ts[0];
    assert!(first > 0, "old data was deleted");
    assert_eq!(
        ts,
        (first / 1000..400).map(|t| t * 1000).collect::<Vec<_>>()
    );
    // Reopen: blocks plus checkpointed WAL give the same answer.
    db.close().unwrap();
    drop(db);
    let db = Db::open(dir.path(), opts()).unwrap();
    let again = read_all(&db, &[Matcher::equal("job", "a")]);
    assert_eq!(again, got);
}

#[test]
fn crash_without_close_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), opts()).unwrap();
        for t in 0..100 {
            write(&db, &[(UP_A, &[(t, t as f64)])]);
        }
        // Simulate a crash: no close, no sync. Leak the handle so nothing runs on drop.
        std::mem::forget(db);
    }
    // The lock is per-process (flock), so reopening in the same process is only possible
    // through a read-only open, exactly what `pharos tsdb dump` does.
    let db = Db::open_read_only(dir.path(), opts()).unwrap();
    assert_eq!(read_all(&db, &[])[0].1.len(), 100);
}

#[test]
fn exemplars_are_kept_in_a_bounded_ring() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options {
            max_exemplars_per_series: 2,
            ..opts()
        },
    )
    .unwrap();
    let mut batch = WriteBatch::default();
    batch.labels.extend([LabelRef {
        name: "__name__",
        value: "req",
    }]);
    let ex_label = batch.labels.len() as u32;
    batch.labels.push(LabelRef {
        name: "trace_id",
        value: "abc",
    });
    batch.exemplars = (0..3)
        .map(|i| pharos_model::ExemplarRef {
            labels: ex_label..ex_label + 1,
            value: i as f64,
            t: i,
        })
        .collect();
    batch.samples.push(Sample { t: 5, v: 1.0 });
    batch.series.push(pharos_model::SeriesEntry {
        labels: 0..1,
        samples: 0..1,
        exemplars: 0..3,
    });
    let o = db.append(&batch).unwrap();
    assert_eq!(o.exemplars_appended, 3);
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let ex = q.exemplars(&[]).unwrap();
    assert_eq!(ex[0].1.iter().map(|e| e.t).collect::<Vec<_>>(), vec![1, 2]);
}

mod model_equivalence {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Append { series: u8, t: i64, v: f64 },
        Flush,
        Compact,
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (0u8..4, 0i64..400, prop_oneof![any::<f64>(), Just(STALE_NAN), Just(-0.0), (0i32..100).prop_map(f64::from)])
                .prop_map(|(series, t, v)| Op::Append { series, t: t * 250, v }),
            1 => Just(Op::Flush),
            1 => Just(Op::Compact),
            1 => Just(Op::Reopen),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// Whatever the interleaving of appends, flushes, compactions and restarts, the
        /// database returns exactly what a simple in-memory model of the rules holds.
        #[test]
        fn database_matches_model(ops in prop::collection::vec(op(), 1..120)) {
            let dir = tempfile::tempdir().unwrap();
            let options = Options { block_span_ms: 20_000, ooo_window_ms: 30_000, samples_per_head_chunk: 5, ..opts() };
            let mut db = Db::open(dir.path(), options.clone()).unwrap();
            let mut model: BTreeMap<u8, BTreeMap<i64, u64>> = BTreeMap::new();
            let mut max_t = i64::MIN;
            let names = ["a", "b", "c", "d"];
            for op in ops {
                match op {
                    Op::Append { series, t, v } => {
                        let labels: &[(&str, &str)] = &[("__name__", "m"), ("s", names[series as usize])];
                        let o = write(&db, &[(labels, &[(t, v)])]);
                        let entry = model.entry(series).or_default();
                        match entry.get(&t) {
                            Some(&bits) if bits == v.to_bits() => prop_assert_eq!(o.rejected[RejectReason::DuplicateTimestamp.index()], 0),
                            // A conflicting value is refused while the head still holds the
                            // sample (or as too old); once persisted, the first written value
                            // keeps winning, which the final comparison checks.
                            Some(_) => prop_assert!(o.samples_appended + o.rejected_total() <= 1),
                            None => {
                                if o.samples_appended == 1 {
                                    entry.insert(t, v.to_bits());
                                    max_t = max_t.max(t);
                                } else {
                                    // Refused only when outside the out-of-order window.
                                    prop_assert!(o.rejected[RejectReason::TooOld.index()] == 1 && t < max_t - 30_000, "{:?}", o);
                                }
                            }
                        }
                    }
                    Op::Flush => db.flush().unwrap(),
                    Op::Compact => db.compact().unwrap(),
                    Op::Reopen => {
                        db.close().unwrap();
                        drop(db);
                        db = Db::open(dir.path(), options.clone()).unwrap();
                    }
                }
            }
            let got = read_all(&db, &[]);
            let want: Vec<(String, Vec<(i64, u64)>)> = model
                .iter()
                .filter(|(_, s)| !s.is_empty())
                .map(|(k, s)| (format!("m{{s=\"{}\"}}", names[*k as usize]), s.iter().map(|(t, b)| (*t, *b)).collect()))
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}

#[test]
fn interrupted_compaction_leaves_no_duplicate_blocks() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), opts()).unwrap();
        write(&db, &[(UP_A, &[(1000, 1.0)])]);
        db.flush().unwrap();
        write(&db, &[(UP_A, &[(2000, 2.0)])]);
        db.flush().unwrap();
        db.close().unwrap();
    }
    // Merge the two blocks as compaction would, then "crash" before deleting the inputs.
    let blocks_dir = dir.path().join("blocks");
    let inputs: Vec<Arc<crate::block::Block>> = std::fs::read_dir(&blocks_dir)
        .unwrap()
        .map(|e| Arc::new(crate::block::Block::open(&e.unwrap().path()).unwrap()))
        .collect();
    assert_eq!(inputs.len(), 2);
    crate::compact::merge_blocks(&blocks_dir, &inputs)
        .unwrap()
        .unwrap();
    drop(inputs);
    assert_eq!(std::fs::read_dir(&blocks_dir).unwrap().count(), 3);
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(
        db.block_metas().len(),
        1,
        "the inputs are recognised and removed"
    );
    assert_eq!(db.block_metas()[0].compaction.level, 2);
    let got = read_all(&db, &[]);
    assert_eq!(
        got[0].1,
        vec![(1000, 1f64.to_bits()), (2000, 2f64.to_bits())]
    );
    assert_eq!(std::fs::read_dir(&blocks_dir).unwrap().count(), 1);
}

#[test]
fn blocks_with_many_series_groups_read_back_every_series() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let names: Vec<String> = (0..300).map(|i| format!("{i:03}")).collect();
    for (i, n) in names.iter().enumerate() {
        let labels: &[(&str, &str)] = &[("__name__", "m"), ("i", n)];
        write(&db, &[(labels, &[(1000, i as f64), (2000, -(i as f64))])]);
    }
    db.flush().unwrap();
    let got = read_all(&db, &[]);
    assert_eq!(got.len(), 300);
    for (i, (labels, samples)) in got.iter().enumerate() {
        assert_eq!(labels, &format!("m{{i=\"{i:03}\"}}"));
        assert_eq!(
            samples,
            &vec![
                (1000, (i as f64).to_bits()),
                (2000, (-(i as f64)).to_bits())
            ]
        );
    }
    // Random access into the middle of later groups, and backwards.
    for i in [299, 130, 5, 257] {
        let one = read_all(&db, &[Matcher::equal("i", format!("{i:03}"))]);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].1[0], (1000, (i as f64).to_bits()));
    }
}

#[test]
fn retention_by_size_deletes_oldest_blocks_first() {
    let dir = tempfile::tempdir().unwrap();
    let span = 10_000;
    let mut options = Options {
        block_span_ms: span,
        // Keeps compaction from merging the blocks (its largest range is a tenth of this).
        retention_ms: 10 * span,
        ..opts()
    };
    let db = Db::open(dir.path(), options.clone()).unwrap();
    for b in 0..4 {
        let samples: Vec<(i64, f64)> = (0..10)
            .map(|i| (b * span + i * 1000, (b * 100 + i) as f64))
            .collect();
        write(&db, &[(UP_A, &samples)]);
        db.flush().unwrap();
    }
    let metas = db.block_metas();
    assert_eq!(metas.len(), 4);
    db.close().unwrap();
    drop(db);
    // Room for about two blocks.
    let one_block: u64 = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .map(|e| {
            std::fs::read_dir(e.unwrap().path())
                .unwrap()
                .map(|f| f.unwrap().metadata().unwrap().len())
                .sum::<u64>()
        })
        .max()
        .unwrap();
    options.retention_bytes = one_block * 2 + one_block / 2;
    let db = Db::open(dir.path(), options).unwrap();
    db.compact().unwrap();
    let left = db.block_metas();
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left[0].min_time, 2 * span);
    assert_eq!(db.stats().retention_deletions_size_total, 2);
    let ts: Vec<i64> = read_all(&db, &[])[0].1.iter().map(|x| x.0).collect();
    assert_eq!(ts.first(), Some(&(2 * span)));
}
