//! Sample encodings.
//!
//! * [`xor`]: an appendable bitstream for the head, one open chunk per active series.
//!   Timestamps are delta-of-delta coded; values are Gorilla XOR coded, with a second
//!   mode that codes integers and short decimals as (delta of) scaled integers, which is
//!   what most scraped counters and gauges are.
//! * [`packed`]: a byte-aligned encoding for immutable blocks, written once per series
//!   and range and meant to be compressed further by zstd.
//!
//! Both round-trip every `f64` bit pattern and every `i64` timestamp exactly, and both
//! decoders report corrupt input as [`ChunkError`] instead of panicking.

pub mod packed;
pub mod xor;

mod bits;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// The data ends before the sample count in its header says it should.
    #[error("chunk data ends early: {0}")]
    Truncated(&'static str),
    /// The data is inconsistent with the encoding.
    #[error("corrupt chunk data: {0}")]
    Corrupt(String),
}

/// Largest number of decimal digits after the point that the scaled-integer value modes
/// try. Beyond nine digits the scaled integers get as long as the raw float bits.
pub(crate) const MAX_SCALE: u8 = 9;

const POW10: [f64; MAX_SCALE as usize + 1] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// 2^53: integers up to this magnitude convert to `f64` and back exactly.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

#[inline]
fn pow10(scale: u8) -> f64 {
    POW10[usize::from(scale.min(MAX_SCALE))]
}

/// `v·10^scale` rounded to an integer, or `None` when that is not finite or too large to be
/// exact. It need not reproduce `v`; encoder and decoder use it as a shared prediction, so
/// it only has to be deterministic, which IEEE arithmetic is.
#[inline]
pub(crate) fn scaled_round(v: f64, scale: u8) -> Option<i64> {
    let x = if scale == 0 { v } else { v * pow10(scale) };
    if x.abs() < EXACT_INT_LIMIT {
        // Rounds half away from zero like `f64::round`, which is a libm call on baseline
        // x86-64; the truncating cast and the subtraction are exact below 2^53.
        let t = x as i64;
        let frac = x - t as f64;
        Some(t + i64::from(frac >= 0.5) - i64::from(frac <= -0.5))
    } else {
        None
    }
}

#[inline]
pub(crate) fn unscale(m: i64, scale: u8) -> f64 {
    if scale == 0 {
        // The common integer case skips the division, whose result would be the same.
        return m as f64;
    }
    // Dividing by an exact power of ten rounds correctly, so a value parsed from decimal
    // text with at most `scale` fraction digits comes back as the same float.
    m as f64 / pow10(scale)
}

/// The integer `m` with `unscale(m, scale)` bit-identical to `v`, if there is one.
/// -0.0, NaN and infinities never qualify.
#[inline]
pub(crate) fn scaled_exact(v: f64, scale: u8) -> Option<i64> {
    let m = scaled_round(v, scale)?;
    (unscale(m, scale).to_bits() == v.to_bits()).then_some(m)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Value and timestamp generators shared by the tests of both encodings.

    use proptest::prelude::*;

    pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

    pub fn any_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            3 => any::<u64>().prop_map(f64::from_bits),
            1 => Just(f64::from_bits(STALE_NAN)),
            1 => Just(f64::NAN),
            1 => any::<u64>().prop_map(|b| f64::from_bits(b | 0x7ff0_0000_0000_0001)),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(-0.0f64),
            1 => Just(0.0f64),
            1 => (1u64..(1 << 52)).prop_map(f64::from_bits),
            1 => (1u64..(1 << 52)).prop_map(|b| -f64::from_bits(b)),
            2 => (-1_000_000i64..1_000_000).prop_map(|i| i as f64),
            1 => prop::num::i64::ANY.prop_map(|i| i as f64),
            2 => (-100_000_000i64..100_000_000, 0i32..=9)
                .prop_map(|(m, e)| m as f64 / 10f64.powi(e)),
            1 => Just(9_007_199_254_740_993.0f64),
            1 => Just(f64::MAX),
            1 => Just(f64::MIN_POSITIVE),
        ]
    }

    /// Series-shaped values: runs of repeats, counters, decimal walks and occasional
    /// special values, so that the run-dependent code paths are exercised.
    pub fn series_values(len: usize) -> impl Strategy<Value = Vec<f64>> {
        let step = prop_oneof![
            3 => (0i64..=50).prop_map(Step::Add),
            2 => (-500i64..=500).prop_map(Step::Add),
            1 => Just(Step::Add(0)),
            1 => (0i32..=4).prop_map(Step::Rescale),
            1 => any_value().prop_map(Step::Set),
            1 => (-1i64 << 60..1i64 << 60).prop_map(Step::Add),
        ];
        (
            prop::collection::vec(step, len),
            -1_000_000i64..1_000_000,
            0i32..=3,
        )
            .prop_map(|(steps, start, e)| {
                let mut m = start;
                let mut e = e;
                steps
                    .into_iter()
                    .map(|s| match s {
                        Step::Add(d) => {
                            m = m.wrapping_add(d);
                            m as f64 / 10f64.powi(e)
                        }
                        Step::Rescale(ne) => {
                            e = ne;
                            m as f64 / 10f64.powi(e)
                        }
                        Step::Set(v) => v,
                    })
                    .collect()
            })
    }

    #[derive(Clone, Debug)]
    pub enum Step {
        Add(i64),
        Rescale(i32),
        Set(f64),
    }

    /// Strictly increasing timestamps, either arbitrary (huge gaps, negatives, extremes)
    /// or scrape-like with jitter and missed scrapes.
    pub fn timestamps(max_len: usize) -> impl Strategy<Value = Vec<i64>> {
        prop_oneof![
            prop::collection::btree_set(any::<i64>(), 0..max_len)
                .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
            prop::collection::btree_set(
                prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0i64), any::<i64>()],
                0..8
            )
            .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
            (
                -10_000_000_000_000i64..10_000_000_000_000,
                prop::collection::vec((0i64..=5, 0u8..20), 0..max_len),
                prop_oneof![Just(15_000i64), Just(1i64), 1i64..100_000],
            )
                .prop_map(|(start, jit, step)| {
                    let mut out = Vec::with_capacity(jit.len());
                    let mut grid = start;
                    for (j, skip) in jit {
                        grid += step * if skip == 0 { 3 } else { 1 };
                        let t = grid + j;
                        if out.last().is_none_or(|&l| t > l) {
                            out.push(t);
                        }
                    }
                    out
                }),
        ]
    }

    /// Timestamps and values of equal length.
    pub fn samples(max_len: usize) -> impl Strategy<Value = (Vec<i64>, Vec<f64>)> {
        timestamps(max_len).prop_flat_map(|ts| {
            let n = ts.len();
            let vs = prop_oneof![prop::collection::vec(any_value(), n), series_values(n),];
            (Just(ts), vs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_exact_accepts_decimals_and_rejects_the_rest() {
        assert_eq!(scaled_exact(12.34, 2), Some(1234));
        assert_eq!(scaled_exact(12.34, 1), None);
        assert_eq!(scaled_exact(0.1 + 0.2, 9), None);
        assert_eq!(scaled_exact(-0.0, 0), None);
        assert_eq!(scaled_exact(0.0, 0), Some(0));
        assert_eq!(scaled_exact(f64::NAN, 0), None);
        assert_eq!(scaled_exact(f64::INFINITY, 0), None);
        assert_eq!(scaled_exact(1e300, 0), None);
        assert_eq!(scaled_exact(-7.0, 0), Some(-7));
        assert_eq!(scaled_exact(0.000000001, 9), Some(1));
        assert_eq!(scaled_round(2.5, 0), Some(3));
        assert_eq!(scaled_round(-2.5, 0), Some(-3));
        assert_eq!(scaled_round(0.49999999999999994, 0), Some(0));
        assert_eq!(scaled_round(-7.2, 0), Some(-7));
        assert_eq!(scaled_round(4503599627370495.5, 0), Some(4503599627370496));
    }

    /// Deterministic generator so the figures are reproducible (splitmix64).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in `lo..=hi`.
        fn range(&mut self, lo: i64, hi: i64) -> i64 {
            lo + (self.next() % (hi - lo + 1) as u64) as i64
        }

        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    const SERIES: usize = 1000;
    const SAMPLES: usize = 480;
    const PAGE: usize = 64 * 1024;

    type Series = (Vec<i64>, Vec<f64>);

    fn scrape_times(rng: &mut Rng) -> Vec<i64> {
        let start = 1_700_000_000_000 + rng.range(0, 14_999);
        (0..SAMPLES as i64)
            .map(|i| start + i * 15_000 + rng.range(0, 5))
            .collect()
    }

    /// Scrape timestamps snapped to the interval, as Prometheus does within its
    /// timestamp tolerance.
    fn aligned(mut data: Vec<Series>) -> Vec<Series> {
        for (ts, _) in &mut data {
            let start = ts[0];
            for (i, t) in ts.iter_mut().enumerate() {
                *t = start + i as i64 * 15_000;
            }
        }
        data
    }

    fn counters(rng: &mut Rng) -> Vec<Series> {
        (0..SERIES)
            .map(|_| {
                let ts = scrape_times(rng);
                let mut c = rng.range(0, 1_000_000) as f64;
                let vs = ts
                    .iter()
                    .map(|_| {
                        c += rng.range(0, 50) as f64;
                        c
                    })
                    .collect();
                (ts, vs)
            })
            .collect()
    }

    fn decimal_gauges(rng: &mut Rng) -> Vec<Series> {
        (0..SERIES)
            .map(|_| {
                let ts = scrape_times(rng);
                let mut cents = rng.range(0, 100_000);
                let vs = ts
                    .iter()
                    .map(|_| {
                        cents = (cents + rng.range(-200, 200)).max(0);
                        cents as f64 / 100.0
                    })
                    .collect();
                (ts, vs)
            })
            .collect()
    }

    /// Cumulative `le` buckets of a latency histogram: each scrape adds 0..=50
    /// observations spread over ten buckets, so low buckets rarely move.
    fn histogram_buckets(rng: &mut Rng) -> Vec<Series> {
        let mut out = Vec::with_capacity(SERIES);
        for _ in 0..SERIES / 10 {
            let ts = scrape_times(rng);
            let mut cum = [0f64; 10];
            let mut vals: Vec<Vec<f64>> = (0..10).map(|_| Vec::with_capacity(SAMPLES)).collect();
            for _ in 0..SAMPLES {
                for _ in 0..rng.range(0, 50) {
                    // Roughly log-normal latencies: each bucket is reached with 60 %.
                    let mut b = 0;
                    while b < 9 && rng.unit() < 0.6 {
                        b += 1;
                    }
                    for c in cum.iter_mut().skip(b) {
                        *c += 1.0;
                    }
                }
                for (v, &c) in vals.iter_mut().zip(&cum) {
                    v.push(c);
                }
            }
            for v in vals {
                out.push((ts.clone(), v));
            }
        }
        out
    }

    /// Values with full binary precision, such as rates computed by recording rules.
    fn float_gauges(rng: &mut Rng) -> Vec<Series> {
        (0..SERIES)
            .map(|_| {
                let ts = scrape_times(rng);
                let mut x = rng.unit() * 100.0;
                let vs = ts
                    .iter()
                    .map(|_| {
                        x = (x + (rng.unit() - 0.5) * 2.0).abs();
                        x
                    })
                    .collect();
                (ts, vs)
            })
            .collect()
    }

    /// Compressed size of `chunks` concatenated into zstd-compressed pages.
    fn paged_zstd(chunks: &[Vec<u8>]) -> usize {
        let mut total = 0;
        let mut page = Vec::with_capacity(PAGE + 4096);
        let mut flush = |page: &mut Vec<u8>| {
            if !page.is_empty() {
                total += zstd::bulk::compress(page, 3).expect("zstd").len();
                page.clear();
            }
        };
        for c in chunks {
            if !page.is_empty() && page.len() + c.len() > PAGE {
                flush(&mut page);
            }
            page.extend_from_slice(c);
        }
        flush(&mut page);
        total
    }

    struct Figures {
        xor: f64,
        xor_zstd: f64,
        packed: f64,
        packed_zstd: f64,
    }

    fn measure(name: &str, data: &[Series]) -> Figures {
        let samples = data.iter().map(|(ts, _)| ts.len()).sum::<usize>() as f64;
        let xor_chunks: Vec<Vec<u8>> = data
            .iter()
            .map(|(ts, vs)| {
                let mut a = xor::XorAppender::new();
                for (&t, &v) in ts.iter().zip(vs) {
                    a.append(t, v);
                }
                a.into_bytes()
            })
            .collect();
        let packed_chunks: Vec<Vec<u8>> = data
            .iter()
            .map(|(ts, vs)| {
                let mut out = Vec::new();
                packed::encode(ts, vs, &mut out);
                out
            })
            .collect();
        let size = |c: &[Vec<u8>]| c.iter().map(Vec::len).sum::<usize>() as f64;
        let f = Figures {
            xor: size(&xor_chunks) / samples,
            xor_zstd: paged_zstd(&xor_chunks) as f64 / samples,
            packed: size(&packed_chunks) / samples,
            packed_zstd: paged_zstd(&packed_chunks) as f64 / samples,
        };
        println!(
            "{name:<18} bytes/sample: xor {:.3}  xor+zstd {:.3}  packed {:.3}  packed+zstd {:.3}",
            f.xor, f.xor_zstd, f.packed, f.packed_zstd
        );
        f
    }

    #[test]
    fn compression_on_scrape_like_data() {
        let mut rng = Rng(42);
        let counter = measure("counters", &counters(&mut rng));
        let gauges = measure("decimal gauges", &decimal_gauges(&mut rng));
        let hist = measure("histogram buckets", &histogram_buckets(&mut rng));
        let floats = measure("float gauges", &float_gauges(&mut rng));
        let exact = measure("counters, aligned", &aligned(counters(&mut rng)));

        assert!(counter.packed_zstd < 1.3, "packed+zstd counters");
        assert!(counter.xor < 2.5, "xor counters");
        assert!(
            gauges.xor < 3.0 && gauges.packed_zstd < 2.0,
            "decimal gauges"
        );
        assert!(
            hist.xor < 2.5 && hist.packed_zstd < 1.3,
            "histogram buckets"
        );
        assert!(floats.packed_zstd < 8.0, "float gauges");
        assert!(
            exact.xor < 1.5 && exact.packed_zstd < 0.9,
            "aligned counters"
        );
    }
}
